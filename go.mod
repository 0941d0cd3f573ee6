module github.com/personalcrm/core

go 1.26.8

require (
	github.com/caarlos0/env/v11 v11.4.2
	github.com/google/go-cmp v0.7.0
)
