module github.com/ringback/ringback/services/agent-session

go 1.26.0

require (
	github.com/ringback/ringback/libs v0.0.0
	github.com/ringback/ringback/proto v0.0.0
)

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	golang.org/x/sync v0.25.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace (
	github.com/ringback/ringback/libs => ../../libs
	github.com/ringback/ringback/proto => ../../proto
)
