#!/bin/sh
# One-shot job (temporalio/admin-tools): waits until the Temporal server answers, then creates the
# namespace taskwire uses unless it exists. taskwire registers its search attributes itself at
# start. Reads TEMPORAL_ADDRESS, NAMESPACE and NAMESPACE_RETENTION (e.g. 72h: how long closed
# workflows' histories are kept).
set -eu
: "${TEMPORAL_ADDRESS:?}" "${NAMESPACE:?}"
RETENTION=${NAMESPACE_RETENTION:-72h}

i=0
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
  i=$((i + 1))
  [ "$i" -ge 60 ] && { echo "Temporal at ${TEMPORAL_ADDRESS} is not healthy" >&2; exit 1; }
  sleep 2
done

if temporal operator namespace describe -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
  echo "namespace ${NAMESPACE} exists"
else
  temporal operator namespace create -n "$NAMESPACE" --retention "$RETENTION" --address "$TEMPORAL_ADDRESS"
  echo "namespace ${NAMESPACE} created (retention ${RETENTION})"
fi
