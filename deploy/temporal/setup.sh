#!/bin/sh
# Prepares a Temporal namespace for reelflow: waits for the frontend, creates the
# namespace when it is missing, and registers reelflow's search attributes (the names
# of workflows.SearchAttributes(), all Keyword). Idempotent: an existing namespace is
# kept and an attribute that exists is skipped, so it runs on every `docker compose up`.
#
# Reads TEMPORAL_ADDRESS (default temporal:7233) and TEMPORAL_NAMESPACE (default
# "default"). On a cluster you do not run in compose, run the same `temporal operator`
# commands once, by hand or from your deploy pipeline (docs/production.md).
set -eu
addr=${TEMPORAL_ADDRESS:-temporal:7233}
ns=${TEMPORAL_NAMESPACE:-default}

# retry runs a command until it succeeds, for up to two minutes: the server answers
# before it is ready, and a new namespace takes a few seconds to reach its caches.
retry() {
	n=0
	until "$@"; do
		n=$((n + 1))
		if [ "$n" -ge 60 ]; then
			echo "gave up after 2m: $*" >&2
			return 1
		fi
		sleep 2
	done
}

retry temporal operator cluster health --address "$addr"

if ! temporal operator namespace describe --address "$addr" --namespace "$ns" >/dev/null 2>&1; then
	# It may exist all the same, not yet visible: the describe below decides.
	temporal operator namespace create --address "$addr" --namespace "$ns" --retention 72h || true
fi
retry temporal operator namespace describe --address "$addr" --namespace "$ns" >/dev/null

retry temporal operator search-attribute create --address "$addr" --namespace "$ns" --name ReelflowStage --type Keyword
retry temporal operator search-attribute create --address "$addr" --namespace "$ns" --name HeyGenJobID --type Keyword
retry temporal operator search-attribute create --address "$addr" --namespace "$ns" --name ReelflowCampaign --type Keyword

echo "namespace $ns is ready for reelflow"
