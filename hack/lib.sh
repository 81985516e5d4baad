# Shared by the hack/ build scripts: source it, after defining log().

# with_progress <label> <command...>: runs a long command (a first build of a
# Kubernetes binary takes minutes on two cores, and go build prints nothing
# meanwhile) and says every 30 s that it is still working.
with_progress() {
	local label=$1 start=$SECONDS
	shift
	"$@" &
	local pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		for _ in $(seq 30); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 1
		done
		kill -0 "$pid" 2>/dev/null && log "$label: still building ($((SECONDS - start))s so far)"
	done
	wait "$pid"
}
