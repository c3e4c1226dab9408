-- 0005: clients' settings for OpenID Connect RP-Initiated Logout 1.0
-- (store.Client.PostLogoutRedirectURIs and SkipLogoutConsent), and whether
-- an impersonation through the client needs a stated reason
-- (store.Client.ReasonRequired). The list is NULL when the Go slice is nil,
-- '{}' when it is empty, as in 0001. A client stored before this migration
-- gets none: no post-logout redirect, the user is asked before a logout,
-- and no reason is required.
ALTER TABLE clients ADD COLUMN IF NOT EXISTS post_logout_redirect_uris text[];
ALTER TABLE clients ADD COLUMN IF NOT EXISTS skip_logout_consent boolean NOT NULL DEFAULT false;
ALTER TABLE clients ADD COLUMN IF NOT EXISTS reason_required boolean NOT NULL DEFAULT false;
