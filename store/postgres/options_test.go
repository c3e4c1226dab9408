package postgres_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/store/postgres"
)

func TestNewValidatesItsConfiguration(t *testing.T) {
	t.Parallel()
	pool := connect(t)
	tests := []struct {
		name    string
		opts    []postgres.Option
		wantErr bool
	}{
		{name: "defaults", opts: nil},
		{name: "plain schema", opts: []postgres.Option{postgres.WithSchema("idp_2")}},
		{name: "underscore first", opts: []postgres.Option{postgres.WithSchema("_x")}},
		{name: "63 bytes", opts: []postgres.Option{postgres.WithSchema(strings.Repeat("a", 63))}},
		{name: "64 bytes", opts: []postgres.Option{postgres.WithSchema(strings.Repeat("a", 64))}, wantErr: true},
		{name: "empty schema", opts: []postgres.Option{postgres.WithSchema("")}, wantErr: true},
		{name: "upper case", opts: []postgres.Option{postgres.WithSchema("Actas")}, wantErr: true},
		{name: "digit first", opts: []postgres.Option{postgres.WithSchema("1actas")}, wantErr: true},
		{name: "injection", opts: []postgres.Option{postgres.WithSchema(`actas"; DROP TABLE x; --`)}, wantErr: true},
		{name: "dot", opts: []postgres.Option{postgres.WithSchema("a.b")}, wantErr: true},
		{name: "nil clock", opts: []postgres.Option{postgres.WithClock(nil)}, wantErr: true},
		{name: "zero timeout", opts: []postgres.Option{postgres.WithTimeout(0)}, wantErr: true},
		{name: "negative timeout", opts: []postgres.Option{postgres.WithTimeout(-time.Second)}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := postgres.New(pool, tc.opts...)
			if tc.wantErr {
				assert.Error(t, err)
				assert.Nil(t, s)
				return
			}
			require.NoError(t, err)
			assert.NotNil(t, s)
		})
	}
	_, err := postgres.New(nil)
	assert.Error(t, err, "a pool is required")

	s, err := postgres.New(pool)
	require.NoError(t, err)
	assert.Equal(t, postgres.DefaultSchema, s.Schema())
}
