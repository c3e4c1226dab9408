-- Clients may enable refresh tokens (store.Client.RefreshTokens).
ALTER TABLE clients ADD COLUMN refresh_tokens boolean NOT NULL DEFAULT false;
