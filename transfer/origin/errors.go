package origin

import "github.com/wochit-ingest/wochit-ingest/internal/failure"

// Error is a request to the origin that failed, typed with the reason the
// transfer fails with: the engine's one typed failure (internal/failure),
// so that the copy returns it as it is. Its message quotes URLs without
// their secrets.
type Error = failure.Error
