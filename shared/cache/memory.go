package cache

import (
	"context"
	"encoding/binary"
	"math"
	"sync"
	"time"
)

// Memory is a Backend in this process's memory, for the local server and
// tests when REDIS_URL is unset. It is never used by a Lambda: each
// instance would keep its own copy, and a write in one would not
// invalidate the others.
type Memory struct {
	mu      sync.Mutex
	entries map[string]memEntry
	writes  int
	max     int
	now     func() time.Time
}

type memEntry struct {
	val []byte
	exp time.Time
}

// DefaultMemoryEntries bounds a Memory backend's size.
const DefaultMemoryEntries = 100_000

// NewMemory returns an empty in-memory backend holding at most max entries
// (DefaultMemoryEntries when max <= 0).
func NewMemory(max int) *Memory {
	if max <= 0 {
		max = DefaultMemoryEntries
	}
	return &Memory{entries: map[string]memEntry{}, max: max, now: time.Now}
}

// Get implements Backend.
func (m *Memory) Get(_ context.Context, keys ...string) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if e, ok := m.live(k, now); ok {
			out[i] = e.val
		}
	}
	return out, nil
}

func (m *Memory) live(k string, now time.Time) (memEntry, bool) {
	e, ok := m.entries[k]
	if !ok {
		return e, false
	}
	if !now.Before(e.exp) {
		delete(m.entries, k)
		return e, false
	}
	return e, true
}

// Set implements Backend.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.put(key, value, ttl)
	return nil
}

// put stores a copy of value; the caller holds mu.
func (m *Memory) put(key string, value []byte, ttl time.Duration) {
	if ttl <= 0 {
		delete(m.entries, key)
		return
	}
	m.writes++
	if m.writes%1024 == 0 || len(m.entries) >= m.max {
		m.sweep()
	}
	m.entries[key] = memEntry{val: append([]byte(nil), value...), exp: m.now().Add(ttl)}
}

// sweep drops expired entries and, when still full, arbitrary ones: it is
// a cache, and any entry may go.
func (m *Memory) sweep() {
	now := m.now()
	for k, e := range m.entries {
		if !now.Before(e.exp) {
			delete(m.entries, k)
		}
	}
	for k := range m.entries {
		if len(m.entries) < m.max {
			break
		}
		delete(m.entries, k)
	}
}

// SetNX implements Backend.
func (m *Memory) SetNX(_ context.Context, key string, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.live(key, m.now()); !ok {
		m.put(key, value, ttl)
	}
	return nil
}

// Delete implements Backend.
func (m *Memory) Delete(_ context.Context, keys ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		delete(m.entries, k)
	}
	return nil
}

// Allow implements Backend with the GCRA of the Redis backend
// (go-redis/redis_rate), step for step, so both answer alike: the key holds
// the theoretical arrival time of the next request.
func (m *Memory) Allow(_ context.Context, key string, r Rate) (Decision, error) {
	if err := r.check(); err != nil {
		return Decision{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	emission := r.Per / time.Duration(r.Requests)
	burstOffset := emission * time.Duration(r.Burst)

	tat := now
	if e, ok := m.live(key, now); ok {
		if len(e.val) == 8 {
			tat = time.Unix(0, int64(binary.LittleEndian.Uint64(e.val)))
		}
	}
	if tat.Before(now) {
		tat = now
	}
	newTat := tat.Add(emission)
	allowAt := newTat.Add(-burstOffset)
	diff := now.Sub(allowAt)
	remaining := float64(diff) / float64(emission)
	if remaining < 0 {
		return Decision{Allowed: false, RetryAfter: -diff}, nil
	}
	if reset := newTat.Sub(now); reset > 0 {
		// Whole seconds, as the Redis script's EX.
		m.put(key, binary.LittleEndian.AppendUint64(nil, uint64(newTat.UnixNano())), time.Duration(math.Ceil(reset.Seconds()))*time.Second)
	}
	return Decision{Allowed: true, Remaining: int(remaining)}, nil
}

// Ping implements Backend.
func (m *Memory) Ping(context.Context) error { return nil }

// Close implements Backend.
func (m *Memory) Close() error { return nil }
