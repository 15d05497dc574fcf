"""The HTTP API's routes, one `APIRouter` per resource (documents, results, pages, review, training,
models and tokens, admin), with what they share: `deps` (the service, a session, the caller),
`errors` (`ApiError`, each error code's HTTP status), `outputs` (response shapes). service/api.py
assembles them into the app."""
