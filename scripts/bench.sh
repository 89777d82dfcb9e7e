#!/usr/bin/env bash
# make bench: the performance issue's figures, each printed beside a baseline
# measured in the same run on this machine. Every benchmark prints its own
# summary line(s); they are gathered under one heading at the end.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
GO=${GO:-go}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$(date +%s)
# Figures from a busy machine are not the platform's: the heading shows the
# load average at start and end, so a run next to other work is visible.
loadavg() { cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?'; }
load_start=$(loadavg)
failed=()
ran=() # in run order, for the summary

# run NAME DIR ARGS...: runs a go test benchmark in DIR, showing its output
# and keeping it for the summary; under the command in wrap when set.
wrap=()
run() {
	local name=$1 dir=$2
	shift 2
	echo "== $name"
	ran+=("$out/$name.log")
	if ! (cd "$root/$dir" && "${wrap[@]}" "$GO" test -count=1 "$@") 2>&1 | tee "$out/$name.log"; then
		failed+=("$name")
	fi
}

echo "== build"
(cd "$root/cmd/ringback" && "$GO" build -o "$root/bin/ringback" .) || { echo "bench: build failed" >&2; exit 1; }

# Durable appends per second, 1 and 64 writers, against the disk's raw fsync rate.
run embedded-store libs -run '^$' -bench . -benchtime 2s ./eventstore/embedded/

# The same on PostgreSQL, beside the server's own single-row INSERT rate (one
# writer, synchronous_commit=on), then a read model's rebuild rate over
# 100,000 events. It needs a server: the one RINGBACK_TEST_POSTGRES or PGHOST
# names, else a throw-away cluster from pg_virtualenv with fsync on (its
# default is off, and figures without syncs are not the platform's); without
# either the benchmark skips and says so.
if [[ -z ${RINGBACK_TEST_POSTGRES:-}${PGHOST:-} ]] && command -v pg_virtualenv >/dev/null &&
	compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
	wrap=(pg_virtualenv -t -o fsync=on -o max_connections=200 --)
fi
run postgres-store libs -run '^$' -bench . ./eventstore/postgres/
# The router's takeover after kill -9 of the leader (two router processes on
# PostgreSQL and kfake; 10 kills), beside the takeover after a clean stop.
RINGBACK_BIN="$root/bin/ringback" run router-takeover cmd/ringback -timeout 10m -run '^$' -bench RouterTakeover -benchtime 1x ./bench/
wrap=()

# Authorisation per request (issue 16): a bearer token among 1,000 agents
# and a single sign-on session cookie, the role check and the principal in
# the request (what each route's own entitlement reads is not included).
run authorisation libs -run '^$' -bench Authorize -benchtime 2s ./agentauth/

# A self-service link's check per request (issue 12), beside one bare
# HMAC-SHA256 over the same fields.
run self-service-link libs -run '^$' -bench Verify -benchtime 2s ./selflink/

# A read model's rebuild at start from the embedded store (200,000 events,
# half its own) until Ready, beside the bare subscription over the same store.
run read-model libs -run '^$' -bench RebuildEmbedded -benchtime 3x ./readmodel/

# The relay killed with kill -9 while events flow: how many its successor
# publishes again from the checkpoint kept in the store, beside the events
# one checkpoint interval (100 ms) holds at that flow.
run relay-replay libs -run '^$' -bench RelayReplayAfterKill -benchtime 5x ./relay/

# The floor under the cost per callback (issue 13): the CPU of one event
# hop through the platform's pieces with no domain work (decide, append
# and fdatasync, relay, in-process bus, router middleware, inbox), bare,
# with a copy beside it (as history makes) and with 8 read models folding
# the store, beside the disk's own write+fdatasync. A callback's events
# times these is what its steps cost before any service does anything.
run event-hop libs -run '^$' -bench EventHop -benchtime 1x ./service/

# Thin path latency: call -> contact INVITE and contact 200 -> Connected over
# 200 calls against bin/ringback, beside the same Go SIP UA on bare loopback.
# RINGBACK_BENCH_{CALLS,AGENTS,PAUSE,KEEP} tune it (cmd/ringback/bench).
RINGBACK_BIN="$root/bin/ringback" run thin-path cmd/ringback -timeout 15m -run '^$' -bench ThinPath -benchtime 1x ./bench/
# The same with a CPU-bound process beside the platform (issue 13: the p99
# targets must hold on a machine that is not quiet).
RINGBACK_BENCH_HOGS=1 RINGBACK_BIN="$root/bin/ringback" run thin-path-with-a-cpu-hog cmd/ringback -timeout 15m -run '^$' -bench ThinPath -benchtime 1x ./bench/
# The same once more, profiled: where the CPU per callback goes, by part
# (a run of its own: the profiles cost the platform a little CPU and
# allocation, which the figures above must not carry).
RINGBACK_BENCH_CPU_PARTS=1 RINGBACK_BIN="$root/bin/ringback" run thin-path-cpu-by-part cmd/ringback -timeout 15m -run '^$' -bench ThinPath -benchtime 1x ./bench/

# Routing: 10,000 agents across 50 services, 1,000 callbacks due at once. The
# pure model's decision time and decisions/s beside a naive scan on 2 cores;
# then the router service on the embedded store (due->offer with fsyncs).
run routing services/router -run '^$' -bench Routing -cpu 2 ./queue/
run routing-service services/router -run '^$' -bench RoutingService -benchtime 1x .

# Kafka (kfake over loopback TCP): publish -> consume p50/p99 at 2,000 msg/s
# with acks=all beside kafka-go's raw writer -> reader on the same broker;
# consumption of a partition with one slow stream, 1 vs 4 (and the default
# 32) records in flight. About 30 s.
run kafka libs -run '^$' -bench 'PublishConsume|SlowHandler' -benchtime 1x ./bus/kafka/

# Memory per logged-in agent in agent-session (10,000 agents), and per
# connected desktop event stream.
run agent-memory services/agent-session -run '^$' -bench MemoryPerAgent -benchtime 1x .

# Agent-session with 10,000 agents and 2,000 desktops connected on its one
# store subscription, beside the same work with none connected: heap,
# stacks, CPU, goroutines, store subscriptions. The desktops are another
# process, so their share is not counted. About 15 s.
run agent-desktops services/agent-session -run '^$' -bench Desktops -benchtime 1x .

# The supervisor's board (issue 14): 10,000 agents and 100,000 callbacks
# today, 20 pages on /v1/supervisor/events, 1,000 events a second: from an
# event's fold to every page (p50, p99) and the CPU, beside 400 agents and
# no callback.
run supervisor-board services/agent-session -run '^$' -bench SupervisorBoard -benchtime 1x .

# Time travel (issue 14): the fold of one interaction of 200 events beside
# decoding the same events without folding; GET /v1/interactions/{id}?at=
# (its state at the 100th event, from the embedded store) beside the live
# GET of the same interaction. About 3 s.
run time-travel services/agent-session -run '^$' -bench TimeTravel -benchtime 1x .

# The scheduler with 1,000,000 pending callbacks (issue 11): memory per
# pending callback beside a map of the bare ids; restart until ready beside
# reading the same events without folding; the lag of 10,000 callbacks due
# in the same second beside their bare appends; the availability query over
# 14 days with 1,000,000 booked beside the walk of the hours. About 1 minute.
run scheduler services/scheduler -timeout 20m -run '^$' -bench 'PendingMemory|Restart|DueDispatch|Availability' -benchtime 1x .

# Intake's callback index (GET /v1/callbacks, issue 12): memory per indexed
# callback and the p99 of a filtered list of 50 (and its next page) over
# 100,000 callbacks, beside a naive map of the items filtered and sorted per
# list. About 25 s.
run intake-index services/intake -run '^$' -bench Index -benchtime 1x ./index/

# Personal data sealed for erasure (issue 16, point 9): per event, sealing
# before the store and opening after it (first read, and read again from
# the cache) beside one decode of the same event; per callback, the
# platform's CPU from request to Done with personal data sealed beside the
# same with --personal.keys=off, in alternating rounds. About 1 minute.
run personal-event libs -run '^$' -bench PersonalPerEvent ./personal/
# The directory key store's put (a new contact's key, a new callback's link)
# at 32 at once: an unnamed file linked to its name beside a named temporary.
run personal-put libs -run '^$' -bench DirPut -benchtime 2000x ./personal/
# A new contact's key and its callback's link at 64 at once: the key log
# (one sync for many, the embedded store's default) beside a file each.
run personal-keylog libs -run '^$' -bench KeyStorePut -benchtime 2000x ./personal/
RINGBACK_BIN="$root/bin/ringback" run personal-callback cmd/ringback -timeout 15m -run '^$' -bench PersonalData -benchtime 1x ./bench/

# Abuse protection (issue 12): the rate limits' cost per create (client
# address, number and service buckets) beside the bare handler's decode and
# answer; then 30 s of 64 clients flooding POST /v1/callbacks from one
# address at the real binary with the default per-address limit: how many
# got through beside what the limit allows (target: exactly that), and
# /healthz p99 during the flood beside the same binary with none. About 45 s.
run abuse-limiter services/intake -run '^$' -bench RateLimiter -benchtime 2s .
RINGBACK_BIN="$root/bin/ringback" run abuse-flood cmd/ringback -timeout 5m -run '^$' -bench Flood -benchtime 1x ./bench/
# Intake at scale (issue 12): callbacks accepted durably (201 after the
# fsync) per second and p50/p99 from 64 keep-alive clients for 60 s (a
# closed loop: the capacity), then visitors arriving at 5,000/s for 60 s
# (an open loop: p99 from when each request was due), through the API and
# the GMS endpoint, against bin/ringback in two shapes: all services in
# one process (embedded store), and one intake replica alone publishing to
# Kafka (a kfake broker, its own process on the same cores); each beside the same load
# against a handler that only decodes and answers; and the live heap per
# accepted callback, by allocating package.
# RINGBACK_BENCH_INTAKE_{SECONDS,CLIENTS,VARIANTS,SHAPES,OPEN_RATE,OPEN_CONNS}
# tune it. About 10 minutes.
RINGBACK_BIN="$root/bin/ringback" run intake cmd/ringback -timeout 30m -run '^$' -bench Intake -benchtime 1x ./bench/

# Later figures (media) join here the same way: a benchmark that prints its
# summary line beside a baseline from the same run.

# Media gateway on 2 cores: call setups/s (K concurrent Dial+Hangup) against
# sipp UASes beside sipp UAC->UAS; concurrent bridged calls with 20 ms PCMU
# both ways (N = 50..300, 10 s each) until loss > 1 % or jitter p99 > 10 ms,
# beside the same Go UAs talking directly. About 1 minute.
run media services/media-gateway -timeout 10m -run '^$' -bench 'CallSetups|BridgedCalls' -benchtime 1x -cpu 2 ./sip/

# The browser as the agent's phone (issue 15): in one gateway, SIP calls
# alone (PCMU both legs, N = 100..1200), then calls whose agent is a browser
# alone (ICE, DTLS-SRTP, 12 kb/s narrowband Opus as a browser sends it,
# transcoded to the contact's PCMU; N = 50..600), 10 s each, each ramp
# until loss > 1 % or jitter p99 > 10 ms; the two maxima side by side, and
# each kind's CPU per leg. About 3 minutes.
run media-browsers services/media-gateway -timeout 15m -run '^$' -bench BrowserLegs -benchtime 1x -cpu 2 ./sip/

# The conference mixer's work per conference every 20 ms (three mixes
# encoded), and so the conferences one core could mix.
run conference-mix services/media-gateway -run '^$' -bench ConferenceTick -benchtime 2s -cpu 1 ./sip/

echo
echo "==== ringback bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, load avg $load_start -> $(loadavg)," \
	"$("$GO" env GOVERSION), $(($(date +%s) - start)) s"
cat "${ran[@]}" | grep -E '^(embedded store:|postgres store:|read model:|relay:|event hop|router takeover:|thin path|routing|kafka:|media:|agent-session memory:|agent-session desktops:|supervisor board:|scheduler:|personal data|personal key store|authorisation:|self-service link:|abuse:|  |intake|time travel:)' || true
if ((${#failed[@]})); then
	echo "bench: failed: ${failed[*]} (output above)" >&2
	exit 1
fi
