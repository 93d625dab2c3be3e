"""One module per kind of receiver: each builds its request from an Alert (pure) and
classifies the answer (ok / retry after N s / permanent failure with a bounded reason)."""
