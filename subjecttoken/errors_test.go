package subjecttoken_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/subjecttoken"
)

// authzPackageErrors lists every package-level *Error with its code.
func authzPackageErrors() []struct {
	name string
	err  *subjecttoken.Error
	code string
} {
	return []struct {
		name string
		err  *subjecttoken.Error
		code string
	}{
		{"ErrInvalidRequest", subjecttoken.ErrInvalidRequest, subjecttoken.ErrInvalidRequest.Code},
		{"ErrUnauthorizedClient", subjecttoken.ErrUnauthorizedClient, subjecttoken.ErrUnauthorizedClient.Code},
		{"ErrAccessDenied", subjecttoken.ErrAccessDenied, subjecttoken.ErrAccessDenied.Code},
		{"ErrUnsupportedResponseType", subjecttoken.ErrUnsupportedResponseType, subjecttoken.ErrUnsupportedResponseType.Code},
		{"ErrInvalidScope", subjecttoken.ErrInvalidScope, subjecttoken.ErrInvalidScope.Code},
		{"ErrServerError", subjecttoken.ErrServerError, subjecttoken.ErrServerError.Code},
		{"ErrTemporarilyUnavailable", subjecttoken.ErrTemporarilyUnavailable, subjecttoken.ErrTemporarilyUnavailable.Code},
	}
}

func TestError_PackageValues(t *testing.T) {
	t.Parallel()
	for _, tc := range authzPackageErrors() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.code, tc.err.Code)
			assert.Empty(t, tc.err.Description)
			assert.NoError(t, tc.err.Unwrap())
			assert.False(t, tc.err.Redirectable())
		})
	}
}

func TestError_CopiesLeavePackageValuesUnchanged(t *testing.T) {
	t.Parallel()
	cause := errors.New("cause")
	for _, tc := range authzPackageErrors() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := *tc.err

			d := tc.err.WithDescription("described")
			c := tc.err.WithCause(cause)
			both := d.WithCause(cause)

			assert.Equal(t, before, *tc.err)
			assert.NotSame(t, tc.err, d)
			assert.NotSame(t, tc.err, c)
			assert.NotSame(t, d, both)
			assert.Empty(t, tc.err.Description)
			assert.NoError(t, tc.err.Unwrap())

			assert.Equal(t, "described", d.Description)
			assert.NoError(t, d.Unwrap())
			assert.Equal(t, tc.code, c.Code)
			assert.Same(t, cause, c.Unwrap())
			assert.Equal(t, "described", both.Description)
			assert.Same(t, cause, both.Unwrap())
			assert.Equal(t, tc.code, both.Code)
		})
	}
}

func TestError_Is(t *testing.T) {
	t.Parallel()
	cause := errors.New("db down")
	tests := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{name: "same value", err: subjecttoken.ErrAccessDenied, target: subjecttoken.ErrAccessDenied, want: true},
		{name: "described copy", err: subjecttoken.ErrAccessDenied.WithDescription("x"), target: subjecttoken.ErrAccessDenied, want: true},
		{name: "hand-made with same code", err: &subjecttoken.Error{Code: "invalid_scope"}, target: subjecttoken.ErrInvalidScope, want: true},
		{name: "other code", err: subjecttoken.ErrAccessDenied, target: subjecttoken.ErrInvalidRequest, want: false},
		{name: "wrapped by fmt", err: fmt.Errorf("host: %w", subjecttoken.ErrInvalidScope.WithDescription("d")), target: subjecttoken.ErrInvalidScope, want: true},
		{name: "cause through Unwrap", err: subjecttoken.ErrServerError.WithCause(cause), target: cause, want: true},
		{name: "sentinel cause", err: subjecttoken.ErrInvalidRequest.WithCause(subjecttoken.ErrUnknownClient), target: subjecttoken.ErrUnknownClient, want: true},
		{name: "not a plain error", err: subjecttoken.ErrServerError, target: errors.New("server_error"), want: false},
		{name: "nil target", err: subjecttoken.ErrServerError, target: (*subjecttoken.Error)(nil), want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, errors.Is(tc.err, tc.target))
		})
	}
}

func TestError_Error(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *subjecttoken.Error
		want string
	}{
		{name: "code only", err: subjecttoken.ErrAccessDenied, want: "subjecttoken: access_denied"},
		{name: "with description", err: subjecttoken.ErrInvalidScope.WithDescription("scope must include x"),
			want: "subjecttoken: invalid_scope: scope must include x"},
		{name: "with cause", err: subjecttoken.ErrInvalidRequest.WithDescription("unknown client_id").WithCause(subjecttoken.ErrUnknownClient),
			want: "subjecttoken: invalid_request: unknown client_id: subjecttoken: unknown client"},
		{name: "nil", err: nil, want: "subjecttoken: <nil>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, tc.err.Error())
		})
	}
}

func TestError_NilReceiver(t *testing.T) {
	t.Parallel()
	var e *subjecttoken.Error
	assert.False(t, e.Redirectable())
	assert.NoError(t, e.Unwrap())
	assert.False(t, e.Is(subjecttoken.ErrServerError))
	d := e.WithDescription("x")
	require.NotNil(t, d)
	assert.Equal(t, subjecttoken.ErrServerError.Code, d.Code)
}

func TestError_HandMadeIsNotRedirectable(t *testing.T) {
	t.Parallel()
	e := &subjecttoken.Error{Code: subjecttoken.ErrAccessDenied.Code, Description: "no"}
	assert.False(t, e.Redirectable())
	assert.False(t, e.WithDescription("x").WithCause(errors.New("y")).Redirectable())
}
