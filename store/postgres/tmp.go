package postgres

import (
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/stretchr/testify/require"
	_ "github.com/actas/actas/store"
)
