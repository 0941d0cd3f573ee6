// Package cache keeps short-lived copies of reads in Redis (ElastiCache or
// Valkey in AWS) or, for a single local process, in memory, and answers
// rate-limit decisions from the same store.
//
// # Scopes and invalidation by key versioning
//
// Entries that change together belong to a Scope, such as one user's
// contacts. Each scope has a version key holding a random stamp; an entry
// is stored with the stamp current when its value was read, and is a hit
// only while the stamp still matches. Invalidate replaces the stamp, so
// every entry of the scope becomes a miss at once, in one write.
//
// Versioning was chosen over deleting by pattern with SCAN: SCAN walks the
// whole keyspace (every shard of a cluster) to find a handful of keys, its
// cost grows with the cache rather than with the scope, and a reader that
// loaded an old value before the write can store it again between the scan
// and the delete. With versions the write costs one SET whatever the scope
// holds, and a value loaded before the write is stamped with the old
// version, so it can never be served afterwards. Entries of old versions are
// simply never read again and expire by their TTL.
//
// The scope's name and owner form a hash tag ("{contacts:<user id>}"), so
// the version key and the entry share a cluster slot and one MGET reads
// both: a hit is one round trip.
//
// # Cluster mode
//
// Every command the Redis backend sends names keys of one hash slot: a
// scope's keys share its tag, an unscoped entry and a rate limit have one
// key each, and ReadAhead pipelines one MGET per entry rather than one
// MGET across entries. So the same backend works against a cluster-mode
// endpoint (RedisOptions.Cluster, CACHE_MODE=cluster or serverless),
// which refuses a command across slots with CROSSSLOT: ElastiCache
// Serverless, or a Redis Cluster. On a serverless cache, whose single
// endpoint serves every slot, a pipeline is still one round trip.
//
// A missing version key (never set, expired or evicted) is a miss for every
// entry of the scope; the reader then creates it and the next read fills
// the entry. Entries are therefore never trusted across a lost version.
//
// # Degrade, don't fail
//
// The cache is an optimisation: its errors are logged and counted (EMF
// metric CacheError) and never returned. Every operation runs under a short
// timeout (CACHE_TIMEOUT), and a circuit breaker (sony/gobreaker) opens at
// the first failure: while it is open, operations are skipped without
// touching the network (CacheSkipped), and after RetryAfter one request
// probes the cache again. A slow or dead Redis thus costs a request at most
// one timeout, and the requests keep being served from the database.
// Invalidations that fail are kept and retried once the cache answers.
//
// # Signing in
//
// In AWS the cache is ElastiCache over TLS with IAM authentication: each
// new connection sends AUTH with the ElastiCache user's name and a
// short-lived token from package iamauth (RedisOptions.Credentials), and
// that user's access string (AccessString) allows only the commands and
// keys this package sends. A serverless cache's tokens are signed for it
// (iamauth.Config.Serverless). A static AUTH token (REDIS_PASSWORD) remains for
// a Redis without IAM.
//
// # What may be cached
//
// Values are stored as JSON. Never cache secrets (tokens, keys, provider
// credentials) in a value or a key: keys carry ids and hashes only, and an
// entry that belongs to a user carries the user's id in its scope, so one
// user's entry cannot be read under another's key.
package cache
