package testkit

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/personalcrm/core/shared/cache"
)

// clusterNodes is the smallest Redis Cluster redis-cli creates: three
// masters, no replicas.
const clusterNodes = 3

// RedisCluster is a Redis Cluster of a test's own: three redis-server
// processes with cluster mode on, each serving a third of the hash slots,
// as a cluster-mode endpoint such as ElastiCache Serverless does. A
// command naming keys of different slots fails with CROSSSLOT, as there.
type RedisCluster struct {
	Nodes []*RedisServer
}

// StartRedisCluster starts a Redis Cluster of three nodes of this test's
// own on free loopback ports, keeping nothing on disk, and stops it when
// the test ends. It skips the test when redis-server is not installed.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	return StartRedisClusterOf(t, clusterNodes)
}

// StartRedisClusterOf is StartRedisCluster with n nodes. A cluster of one
// node holds every slot: to a client it looks as ElastiCache Serverless's
// single endpoint does, every slot at one address.
func StartRedisClusterOf(t testing.TB, n int) *RedisCluster {
	t.Helper()
	path, err := redisServerPath()
	if err != nil {
		t.Skipf("testkit: no Redis Cluster: %v", err)
	}
	c := &RedisCluster{}
	for range n {
		c.Nodes = append(c.Nodes, startRedisAt(t, path, false, true))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.form(ctx); err != nil {
		t.Fatalf("testkit: form a Redis Cluster: %v", err)
	}
	return c
}

// form gives each node its share of the slots, introduces the nodes to
// the first and waits until every node sees the whole cluster serving:
// what redis-cli --cluster create does.
func (c *RedisCluster) form(ctx context.Context) error {
	clients := make([]*redis.Client, len(c.Nodes))
	for i, n := range c.Nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", n.port), Protocol: 2, DisableIdentity: true})
		defer clients[i].Close()
	}
	const slots = 16384
	for i, rdb := range clients {
		from, to := i*slots/len(clients), (i+1)*slots/len(clients)-1
		if err := rdb.ClusterAddSlotsRange(ctx, from, to).Err(); err != nil {
			return fmt.Errorf("node %d: add slots %d-%d: %w", i, from, to, err)
		}
		if i > 0 {
			if err := rdb.ClusterMeet(ctx, "127.0.0.1", fmt.Sprint(c.Nodes[0].port)).Err(); err != nil {
				return fmt.Errorf("node %d: meet: %w", i, err)
			}
		}
	}
	for {
		ready := true
		for _, rdb := range clients {
			info, err := rdb.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", len(clients))) {
				ready = false
			}
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the cluster did not come up: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// HaveRedisServer reports whether redis-server is installed, which
// StartRedis and StartRedisCluster need.
func HaveRedisServer() bool {
	_, err := redisServerPath()
	return err == nil
}

// URL is a redis:// URL of the cluster's first node, from which a
// cluster client learns the others.
func (c *RedisCluster) URL() string { return c.Nodes[0].URL() }

// Kill stops every node at once (SIGKILL).
func (c *RedisCluster) Kill() {
	for _, n := range c.Nodes {
		n.Kill()
	}
}

// Cache returns a cache on the cluster through a cluster-mode Redis
// backend (cache.RedisOptions.Cluster).
func (c *RedisCluster) Cache(t testing.TB, o cache.Options) *cache.Cache {
	t.Helper()
	b, err := cache.NewRedis(c.URL(), cache.RedisOptions{Timeout: time.Second, Cluster: true})
	if err != nil {
		t.Fatalf("testkit: redis cluster: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Ping(ctx); err != nil {
		b.Close()
		t.Fatalf("testkit: reach the Redis Cluster: %v", err)
	}
	cc := cache.New(b, o)
	t.Cleanup(func() { cc.Close() })
	return cc
}
