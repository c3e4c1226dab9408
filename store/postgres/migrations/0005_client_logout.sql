-- 0005: clients' settings for OpenID Connect RP-Initiated Logout 1.0
-- (store.Client.PostLogoutRedirectURIs and SkipLogoutConsent). The list is
-- NULL when the Go slice is nil, '{}' when it is empty, as in 0001. A
-- client stored before this migration gets neither: no post-logout
-- redirect, and the user is asked before a logout.
ALTER TABLE clients ADD COLUMN IF NOT EXISTS post_logout_redirect_uris text[];
ALTER TABLE clients ADD COLUMN IF NOT EXISTS skip_logout_consent boolean NOT NULL DEFAULT false;
