package impersonation

// The handlers that Service.Handlers builds, for their own tests.
var (
	JWKSHandler     = jwksHandler
	MetadataHandler = metadataHandler
)
