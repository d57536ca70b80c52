package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// ErrSearchAttributesMissing is returned when the namespace lacks the
// search attributes IngestVideo sets: runs would fail their workflow tasks
// until they are registered.
var ErrSearchAttributesMissing = errors.New("search attributes missing")

// missingSearchAttributes lists the ones the namespace lacks. ok is false
// when the server does not let us look (Temporal Cloud with a narrow API
// key, for instance).
func missingSearchAttributes(ctx context.Context, c client.Client, namespace string) (missing []string, ok bool, err error) {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	var denied *serviceerror.PermissionDenied
	var unimplemented *serviceerror.Unimplemented
	if errors.As(err, &denied) || errors.As(err, &unimplemented) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("listing the search attributes of namespace %s: %w", namespace, err)
	}
	for _, name := range workflows.SearchAttributes {
		if _, found := resp.GetCustomAttributes()[name]; !found {
			missing = append(missing, name)
		}
	}
	return missing, true, nil
}

// CheckSearchAttributes fails when the namespace lacks a search attribute
// the workflow sets, naming the command that adds them.
func CheckSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	missing, ok, err := missingSearchAttributes(ctx, c, namespace)
	if err != nil || !ok || len(missing) == 0 {
		return err
	}
	return fmt.Errorf("%w in namespace %s: %s (Keyword); run `wochit-ingest setup` once, or add them with `temporal operator search-attribute create`",
		ErrSearchAttributesMissing, namespace, strings.Join(missing, ", "))
}

// RegisterSearchAttributes adds the search attributes the workflow sets to
// the namespace, if missing, and returns the ones it added.
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string) ([]string, error) {
	missing, ok, err := missingSearchAttributes(ctx, c, namespace)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("the server does not let this client list search attributes of %s; add %s (Keyword) another way, e.g. in the Temporal Cloud UI or with tcld",
			namespace, strings.Join(workflows.SearchAttributes, ", "))
	}
	if len(missing) == 0 {
		return nil, nil
	}
	attrs := make(map[string]enumspb.IndexedValueType, len(missing))
	for _, name := range missing {
		attrs[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	if _, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: attrs,
	}); err != nil {
		return nil, fmt.Errorf("adding search attributes to namespace %s: %w", namespace, err)
	}
	return missing, nil
}
