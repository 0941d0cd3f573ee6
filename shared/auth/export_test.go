package auth

// CacheKeyOf is the name, without the cache's prefix, of the cache entry
// of token's session: what anyone who knows the (public) scheme computes.
func CacheKeyOf(token string) string { return cacheKey(HashToken(token)) }

// EntryKeyLabel is the label the entries' key is derived with.
const EntryKeyLabel = entryKeyLabel
