package adversarial_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actas/actas/internal/testkit"
	"github.com/actas/actas/store"
)

// Reasons the jose layer gives, as they appear in audit events.
const (
	whyMalformed = "jose: malformed token"
	whyAlg       = "jose: algorithm not allowed"
	whyKey       = "jose: unknown signing key"
	whySignature = "jose: invalid signature"
	whyTyp       = "jose: wrong token type (typ)"
	whyCrit      = "jose: critical header not understood"
	// whyDupHeader: a JOSE header names a member twice (issue 11, F4).
	whyDupHeader = "jose: malformed token: header: duplicate member name"
)

// forgery makes a token for one position of the flow.
type forgery func(t *testing.T, e *env) string

// asSubject presents the forged token as the subject token, with alice's
// genuine ID token as the actor token, at the token endpoint as app.
func asSubject(forge forgery) func(*testing.T, *env) response {
	return func(t *testing.T, e *env) response {
		_, idt := e.genuine(t, appID, "alice", "bob")
		st := forge(t, e)
		return e.token(t, appID, exchangeForm(st, idt)).presenting(st, idt).hiding("bob", "alice")
	}
}

// asActor presents the forged token as the actor token, with a genuine
// subject token (bob, may_act alice).
func asActor(forge forgery) func(*testing.T, *env) response {
	return func(t *testing.T, e *env) response {
		st, _ := e.genuine(t, appID, "alice", "bob")
		idt := forge(t, e)
		return e.token(t, appID, exchangeForm(st, idt)).presenting(st, idt).hiding("bob", "alice")
	}
}

// atAPI presents the forged token as the bearer token of GET /api/me.
func atAPI(forge forgery) func(*testing.T, *env) response {
	return func(t *testing.T, e *env) response {
		tok := forge(t, e)
		return e.api(t, http.MethodGet, "/api/me", tok).presenting(tok).hiding("bob", "alice")
	}
}

// signer signs a JWS signing input for a forgery: the base64url signature.
type signer func(t testing.TB, e *env, input string) string

// Signers.
var (
	genuineSig signer = func(t testing.TB, e *env, in string) string { return e.issuerSign(t, in) }
	noSig      signer = func(testing.TB, *env, string) string { return "" }
	derSig     signer = func(t testing.TB, e *env, in string) string { return e.derSign(t, in) }
)

// rawSig is a signer of exactly the signature bytes sig returns.
func rawSig(sig func(t testing.TB, e *env, input string) []byte) signer {
	return func(t testing.TB, e *env, in string) string { return testkit.B64(sig(t, e, in)) }
}

// keySig signs with the key that key returns under alg, which need not be
// the key's own algorithm.
func keySig(alg string, key func(t testing.TB) store.PrivateKey) signer {
	return func(t testing.TB, _ *env, in string) string {
		k := key(t)
		k.Algorithm = alg
		return testkit.Sign(t, k, in)
	}
}

// macSig is an HMAC keyed with what key returns: the classic confusion
// where a verifier uses the public key bytes as an HMAC secret.
func macSig(h func() hash.Hash, key func(t testing.TB, e *env) []byte) signer {
	return rawSig(func(t testing.TB, e *env, in string) []byte {
		m := hmac.New(h, key(t, e))
		m.Write([]byte(in))
		return m.Sum(nil)
	})
}

// pkixDER is the issuer's public key in PKIX DER.
func pkixDER(t testing.TB, e *env) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(e.signingKey(t).Key.Public())
	require.NoError(t, err)
	return der
}

// pkixPEM is the issuer's public key in PEM, as a key file holds it.
func pkixPEM(t testing.TB, e *env) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkixDER(t, e)})
}

// publishedJWK is the issuer's public key as the JWKS endpoint serves it,
// byte for byte.
func publishedJWK(t testing.TB, e *env) []byte {
	t.Helper()
	resp, err := e.hc.Get(e.srv.URL + "/oauth2/jwks")
	require.NoError(t, err)
	defer resp.Body.Close()
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&set))
	require.NotEmpty(t, set.Keys)
	return set.Keys[0]
}

// headerForgery is a token of type typ with the valid claims that claims
// returns whose header is the issuer's changed by hdr, signed by sign.
func headerForgery(typ string, claims func(*env) map[string]any, hdr func(map[string]any), sign signer) forgery {
	return func(t *testing.T, e *env) string {
		h := changed(e.header(t, typ), hdr)
		return forgeWith(t, h, claims(e), func(in string) string { return sign(t, e, in) })
	}
}

// subjectForgery is a subject token with valid claims whose header is the
// issuer's changed by hdr, signed by sign.
func subjectForgery(hdr func(map[string]any), sign signer) forgery {
	return headerForgery(typSubject, subjectClaimsOf, hdr, sign)
}

// actorForgery is alice's ID token for app, header changed, signed by sign.
func actorForgery(hdr func(map[string]any), sign signer) forgery {
	return headerForgery(typID, aliceIDClaims, hdr, sign)
}

// accessForgery is an access token for the API, header changed, signed by
// sign.
func accessForgery(hdr func(map[string]any), sign signer) forgery {
	return headerForgery(typAccess, accessClaimsOf, hdr, sign)
}

func set(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
func del(k string) func(map[string]any)        { return func(m map[string]any) { delete(m, k) } }
func keep(map[string]any)                      {}

// attackerServer serves body and counts the requests it gets: a jku or
// x5u target that must never be fetched.
func attackerServer(t testing.TB, body []byte) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// neverFetched is a subject token signed by the attacker whose header
// member name is the URL of an attacker server serving what serve makes
// of the attacker's key; the case fails if the URL is fetched.
func neverFetched(name string, serve func(t testing.TB, k store.PrivateKey) []byte) forgery {
	return func(t *testing.T, e *env) string {
		var hits *atomic.Int32
		tok := attackerSigned(func(t *testing.T, _ *env, k store.PrivateKey, h map[string]any) {
			var srv *httptest.Server
			srv, hits = attackerServer(t, serve(t, k))
			h[name] = srv.URL
		})(t, e)
		t.Cleanup(func() { assert.Zero(t, hits.Load(), "the %s URL was fetched", name) })
		return tok
	}
}

// selfSignedCert is a certificate for the attacker's key naming the issuer.
func selfSignedCert(t testing.TB, k store.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "id.example"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Key.Public(), k.Key)
	require.NoError(t, err)
	return der
}

// jsonSerialization wraps a valid subject token's payload in the JWS JSON
// serialization: general with a genuine and an attacker signature, or
// flattened with the genuine one alone.
func jsonSerialization(general bool) forgery {
	return func(t *testing.T, e *env) string {
		payload := testkit.Segment(t, e.subjectClaims())
		h1 := testkit.Segment(t, e.header(t, typSubject))
		s1 := e.issuerSign(t, h1+"."+payload)
		if !general {
			return string(mustJSON(t, map[string]string{"payload": payload, "protected": h1, "signature": s1}))
		}
		k := attackerKey(t)
		h2 := testkit.Segment(t, testkit.Header(k, typSubject))
		s2 := testkit.Sign(t, k, h2+"."+payload)
		return string(mustJSON(t, map[string]any{"payload": payload, "signatures": []map[string]string{
			{"protected": h1, "signature": s1}, {"protected": h2, "signature": s2},
		}}))
	}
}

// jwe is a compact JWE (five segments) that encrypts a valid subject
// token's claims, or a genuine subject token (nested), with a random key.
func jwe(nested bool) forgery {
	return func(t *testing.T, e *env) string {
		plain := mustJSON(t, e.subjectClaims())
		hdr := map[string]any{"alg": "dir", "enc": "A256GCM", "kid": e.signingKey(t).ID, "typ": typSubject}
		if nested {
			st, _ := e.genuine(t, appID, "alice", "bob")
			plain = []byte(st)
			hdr["cty"] = "JWT"
		}
		key := make([]byte, 32)
		iv := make([]byte, 12)
		_, _ = rand.Read(key)
		_, _ = rand.Read(iv)
		block, err := aes.NewCipher(key)
		require.NoError(t, err)
		gcm, err := cipher.NewGCM(block)
		require.NoError(t, err)
		h := testkit.Segment(t, hdr)
		sealed := gcm.Seal(nil, iv, plain, []byte(h))
		ct, tag := sealed[:len(sealed)-16], sealed[len(sealed)-16:]
		return h + ".." + testkit.B64(iv) + "." + testkit.B64(ct) + "." + testkit.B64(tag)
	}
}

// genuineSubject is a subject token signed by the issuer, valid.
func genuineSubject(t *testing.T, e *env) string {
	return e.signClaims(t, typSubject, e.subjectClaims())
}

// rewrite changes a valid, genuinely signed subject token's text with f.
func rewrite(f func(tok string) string) forgery {
	return func(t *testing.T, e *env) string { return f(genuineSubject(t, e)) }
}

// resign builds a subject token from the raw header and payload segments
// that segs returns (not necessarily base64url), signed by the issuer over
// exactly those bytes: the signature is genuine, the encoding is not.
func resign(segs func(t *testing.T, e *env) (hdr, payload string)) forgery {
	return func(t *testing.T, e *env) string {
		h, p := segs(t, e)
		return e.signSegments(t, h, p)
	}
}

// rawPayload is a subject token whose payload is exactly payload (valid
// claims as JSON followed by whatever suffix adds), signed by the issuer.
func rawPayload(suffix string) forgery {
	return func(t *testing.T, e *env) string {
		return e.forgeRaw(t, mustJSON(t, e.header(t, typSubject)), append(mustJSON(t, e.subjectClaims()), suffix...))
	}
}

// rawHeader is a subject token with a hand-written header JSON (format's
// %s takes the issuer's kid), valid claims, signed by the issuer.
func rawHeader(format string) forgery { return rawHeaderOn(subjectClaimsOf, format) }

// swapPayload replaces the payload of a genuinely signed token that forge
// makes with other's claims, keeping the signature.
func swapPayload(forge forgery, other func(e *env) map[string]any) forgery {
	return func(t *testing.T, e *env) string {
		parts := strings.Split(forge(t, e), ".")
		return parts[0] + "." + testkit.Segment(t, other(e)) + "." + parts[2]
	}
}

func TestSignatureAndHeader(t *testing.T) {
	t.Parallel()
	rsa := func(t testing.TB) store.PrivateKey {
		k, err := rsaKey()
		require.NoError(t, err)
		return k
	}
	ed := func(t testing.TB) store.PrivateKey {
		k, err := edKey()
		require.NoError(t, err)
		return k
	}
	p384 := func(t testing.TB) store.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		require.NoError(t, err)
		return store.PrivateKey{ID: "p384", Key: k}
	}
	p384Sig := keySig("ES384", p384)

	cases := []attack{
		// alg none and its spellings.
		{name: "alg_none_without_signature", run: asSubject(subjectForgery(set("alg", "none"), noSig)), want: subjectWith(whyMalformed)},
		{name: "alg_none_with_genuine_signature", run: asSubject(subjectForgery(set("alg", "none"), genuineSig)), want: subjectWith(whyAlg)},
		{name: "alg_NONE_upper_case", run: asSubject(subjectForgery(set("alg", "NONE"), genuineSig)), want: subjectWith(whyAlg)},
		{name: "alg_nOnE_mixed_case", run: asSubject(subjectForgery(set("alg", "nOnE"), noSig)), want: subjectWith(whyMalformed)},
		{name: "alg_empty", run: asSubject(subjectForgery(set("alg", ""), genuineSig)), want: subjectWith(whyAlg)},
		{name: "alg_missing", run: asSubject(subjectForgery(del("alg"), genuineSig)), want: subjectWith(whyAlg)},
		{name: "alg_not_a_string", run: asSubject(subjectForgery(set("alg", []string{"ES256"}), genuineSig)), want: subjectWith(whyMalformed)},
		{name: "alg_es256_lower_case", run: asSubject(subjectForgery(set("alg", "es256"), genuineSig)), want: subjectWith(whyAlg)},

		// HMAC keyed with the public key (key confusion).
		{name: "HS256_keyed_with_PKIX_DER_public_key", run: asSubject(subjectForgery(set("alg", "HS256"), macSig(sha256.New, pkixDER))), want: subjectWith(whyAlg)},
		{name: "HS256_keyed_with_PEM_public_key", run: asSubject(subjectForgery(set("alg", "HS256"), macSig(sha256.New, pkixPEM))), want: subjectWith(whyAlg)},
		{name: "HS512_keyed_with_PEM_public_key", run: asSubject(subjectForgery(set("alg", "HS512"), macSig(sha512.New, pkixPEM))), want: subjectWith(whyAlg)},
		{name: "HS256_keyed_with_published_JWK", run: asSubject(subjectForgery(set("alg", "HS256"), macSig(sha256.New, publishedJWK))), want: subjectWith(whyAlg)},

		// Algorithms off the allowlist, and allowed ones that are not the key's.
		{name: "ES384_not_on_allowlist", run: asSubject(subjectForgery(set("alg", "ES384"), p384Sig)), want: subjectWith(whyAlg)},
		{name: "PS256_not_on_allowlist", run: asSubject(subjectForgery(set("alg", "PS256"), keySig("PS256", rsa))), want: subjectWith(whyAlg)},
		{name: "ES256K_not_on_allowlist", run: asSubject(subjectForgery(set("alg", "ES256K"), genuineSig)), want: subjectWith(whyAlg)},
		{name: "RS256_on_the_issuers_EC_key", run: asSubject(subjectForgery(set("alg", "RS256"), keySig(store.RS256, rsa))), want: subjectWith(whyAlg)},
		{name: "EdDSA_on_the_issuers_EC_key", run: asSubject(subjectForgery(set("alg", "EdDSA"), keySig(store.EdDSA, ed))), want: subjectWith(whyAlg)},

		// kid tricks.
		{name: "kid_unknown", run: asSubject(subjectForgery(set("kid", "no-such-key"), genuineSig)), want: subjectWith(whyKey)},
		{name: "kid_empty", run: asSubject(subjectForgery(set("kid", ""), genuineSig)), want: subjectWith(whyKey)},
		{name: "kid_missing", run: asSubject(subjectForgery(del("kid"), genuineSig)), want: subjectWith(whyKey)},
		{name: "kid_path_like", run: asSubject(subjectForgery(set("kid", "../../../../etc/passwd"), genuineSig)), want: subjectWith(whyKey)},
		{name: "kid_url", run: asSubject(subjectForgery(set("kid", "https://evil.example/key.pem"), genuineSig)), want: subjectWith(whyKey)},
		{name: "kid_sql_injection", run: asSubject(subjectForgery(set("kid", "' OR '1'='1"), genuineSig)), want: subjectWith(whyKey)},
		{name: "kid_10KB_long", run: asSubject(subjectForgery(set("kid", strings.Repeat("k", 10<<10)), genuineSig)), want: subjectWith(whyKey)},
		{name: "kid_not_a_string", run: asSubject(subjectForgery(set("kid", 1), genuineSig)), want: subjectWith(whyMalformed)},
		{name: "kid_issuers_with_trailing_NUL", run: asSubject(func(t *testing.T, e *env) string {
			return subjectForgery(set("kid", e.signingKey(t).ID+"\x00"), genuineSig)(t, e)
		}), want: subjectWith(whyKey)},

		// Keys named by the token itself are never used.
		{name: "jku_header_to_attacker_JWKS", run: asSubject(neverFetched("jku", func(t testing.TB, k store.PrivateKey) []byte {
			body, err := store.MarshalJWKS([]store.PublicKey{k.Public()})
			require.NoError(t, err)
			return body
		})), want: subjectWith(whyKey)},
		{name: "x5u_header_to_attacker_certificate", run: asSubject(neverFetched("x5u", func(t testing.TB, k store.PrivateKey) []byte {
			return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSignedCert(t, k)})
		})), want: subjectWith(whyKey)},
		{name: "jwk_header_carrying_the_signing_attacker_key", run: asSubject(attackerSigned(carryingJWK)), want: subjectWith(whyKey)},
		{name: "jwk_header_with_the_issuers_kid", run: asSubject(attackerSigned(func(t *testing.T, e *env, k store.PrivateKey, h map[string]any) {
			carryingJWK(t, e, k, h)
			issuersKid(t, e, k, h)
		})), want: subjectWith(whySignature)},
		{name: "x5c_header_with_attacker_certificate", run: asSubject(attackerSigned(func(t *testing.T, _ *env, k store.PrivateKey, h map[string]any) {
			h["x5c"] = []string{base64.StdEncoding.EncodeToString(selfSignedCert(t, k))}
		})), want: subjectWith(whyKey)},
		{name: "jku_jwk_x5u_headers_with_the_issuers_kid", run: asSubject(attackerSigned(func(t *testing.T, e *env, k store.PrivateKey, h map[string]any) {
			carryingJWK(t, e, k, h)
			h["jku"] = "https://evil.example/jwks"
			h["x5u"] = "https://evil.example/cert.pem"
			issuersKid(t, e, k, h)
		})), want: subjectWith(whySignature)},

		// crit.
		{name: "crit_header_naming_exp", run: asSubject(subjectForgery(func(h map[string]any) { h["crit"] = []string{"exp"}; h["exp"] = 1 }, genuineSig)), want: subjectWith(whyCrit)},
		{name: "crit_b64_false_unencoded_payload", run: asSubject(subjectForgery(func(h map[string]any) { h["crit"] = []string{"b64"}; h["b64"] = false }, genuineSig)), want: subjectWith(whyCrit)},
		{name: "crit_empty_array", run: asSubject(subjectForgery(set("crit", []string{}), genuineSig)), want: subjectWith(whyCrit)},
		{name: "crit_null", run: asSubject(rawHeader(`{"alg":"ES256","kid":"%s","typ":"subject+jwt","crit":null}`)), want: subjectWith(whyCrit)},

		// Keys of another issuer.
		{name: "signed_by_another_issuers_key", run: asSubject(attackerSigned(asIs)), want: subjectWith(whyKey)},
		{name: "another_issuers_key_claiming_the_issuers_kid", run: asSubject(attackerSigned(issuersKid)), want: subjectWith(whySignature)},

		// Other serializations.
		{name: "JWS_JSON_serialization_with_two_signatures", run: asSubject(jsonSerialization(true)), want: subjectWith(whyMalformed)},
		{name: "JWS_flattened_JSON_serialization", run: asSubject(jsonSerialization(false)), want: subjectWith(whyMalformed)},
		{name: "JWE_five_segments", run: asSubject(jwe(false)), want: subjectWith(whyMalformed)},
		{name: "JWE_wrapping_a_genuine_subject_token", run: asSubject(jwe(true)), want: subjectWith(whyMalformed)},

		// Truncated and badly encoded.
		{name: "truncated_to_header_and_payload", run: asSubject(rewrite(func(tok string) string { return tok[:strings.LastIndexByte(tok, '.')] })), want: subjectWith(whyMalformed)},
		{name: "truncated_to_header", run: asSubject(rewrite(func(tok string) string { return tok[:strings.IndexByte(tok, '.')] })), want: subjectWith(whyMalformed)},
		{name: "signature_segment_empty", run: asSubject(rewrite(func(tok string) string { return tok[:strings.LastIndexByte(tok, '.')+1] })), want: subjectWith(whyMalformed)},
		{name: "header_segment_empty", run: asSubject(rewrite(func(tok string) string { return tok[strings.IndexByte(tok, '.'):] })), want: subjectWith(whyMalformed)},
		{name: "signature_truncated_by_half", run: asSubject(rewrite(func(tok string) string {
			i := strings.LastIndexByte(tok, '.')
			return tok[:i+1+(len(tok)-i-1)/2]
		})), want: subjectWith(whySignature)},
		{name: "signature_not_base64url", run: asSubject(rewrite(func(tok string) string { return tok[:strings.LastIndexByte(tok, '.')+1] + "!!!not*base64!!!" })), want: subjectWith(whyMalformed)},
		{name: "signature_with_base64_padding", run: asSubject(rewrite(func(tok string) string { return tok + "==" })), want: subjectWith(whyMalformed)},
		{name: "header_in_standard_base64_with_padding", run: asSubject(resign(func(t *testing.T, e *env) (string, string) {
			h := mustJSON(t, e.header(t, typSubject))
			for len(h)%3 == 0 {
				h = append(h, ' ')
			}
			return base64.StdEncoding.EncodeToString(h), testkit.Segment(t, e.subjectClaims())
		})), want: subjectWith(whyMalformed)},
		{name: "payload_not_base64url_under_genuine_signature", run: asSubject(resign(func(t *testing.T, e *env) (string, string) {
			return testkit.Segment(t, e.header(t, typSubject)), "eyJzdWIiOiJib2Ii+/+/"
		})), want: subjectWith(whyMalformed)},
		{name: "header_not_a_JSON_object", run: asSubject(resign(func(t *testing.T, e *env) (string, string) {
			return testkit.B64([]byte(`["ES256"]`)), testkit.Segment(t, e.subjectClaims())
		})), want: subjectWith(whyMalformed)},
		{name: "header_with_trailing_data", run: asSubject(rawHeader(`{"alg":"ES256","kid":"%s","typ":"subject+jwt"}{"alg":"none"}`)), want: subjectWith(whyMalformed)},
		// Duplicate header members (issue 11, F4): the last one won, so a
		// genuine token re-signed under a header naming a member twice was
		// accepted; another parser would read the other one.
		{name: "header_duplicate_alg_last_none", run: asSubject(rawHeader(`{"alg":"ES256","kid":"%s","typ":"subject+jwt","alg":"none"}`)), want: subjectWith(whyDupHeader)},
		{name: "header_duplicate_alg_none_then_ES256", run: asSubject(rawHeader(`{"alg":"none","alg":"ES256","kid":"%s","typ":"subject+jwt"}`)), want: subjectWith(whyDupHeader)},
		{name: "header_duplicate_alg_differing_in_case", run: asSubject(rawHeader(`{"ALG":"none","alg":"ES256","kid":"%s","typ":"subject+jwt"}`)), want: subjectWith(whyDupHeader)},
		{name: "header_duplicate_typ_JWT_then_subject+jwt", run: asSubject(rawHeader(`{"alg":"ES256","kid":"%s","typ":"JWT","typ":"subject+jwt"}`)), want: subjectWith(whyDupHeader)},
		{name: "header_duplicate_typ_via_unicode_escape", run: asSubject(rawHeader(`{"alg":"ES256","kid":"%s","typ":"JWT","t\u0079p":"subject+jwt"}`)), want: subjectWith(whyDupHeader)},
		{name: "header_duplicate_kid_unknown_then_the_issuers", run: asSubject(rawHeader(`{"alg":"ES256","kid":"no-such-key","kid":"%s","typ":"subject+jwt"}`)), want: subjectWith(whyDupHeader)},
		{name: "header_duplicate_kid_same_value", run: asSubject(rawHeader(`{"alg":"ES256","kid":"%[1]s","kid":"%[1]s","typ":"subject+jwt"}`)), want: subjectWith(whyDupHeader)},
		{name: "header_duplicate_kid_differing_in_case", run: asSubject(rawHeader(`{"alg":"ES256","KID":"no-such-key","kid":"%s","typ":"subject+jwt"}`)), want: subjectWith(whyDupHeader)},
		{name: "header_duplicate_crit", run: asSubject(rawHeader(`{"alg":"ES256","kid":"%s","typ":"subject+jwt","crit":["exp"],"crit":["exp"],"exp":1}`)), want: subjectWith(whyDupHeader)},
		{name: "header_duplicate_ignored_member_cty", run: asSubject(rawHeader(`{"alg":"ES256","kid":"%s","typ":"subject+jwt","cty":"JWT","cty":"json"}`)), want: subjectWith(whyDupHeader)},
		{name: "header_duplicate_inside_a_nested_jwk", run: asSubject(rawHeader(`{"alg":"ES256","kid":"%s","typ":"subject+jwt","jwk":{"kty":"EC","kty":"oct"}}`)), want: subjectWith(whyDupHeader)},

		// Trailing data.
		{name: "trailing_data_after_payload_JSON", run: asSubject(rawPayload("garbage")), want: subjectWith(whyMalformed)},
		{name: "second_JSON_object_after_payload", run: asSubject(rawPayload(`{"sub":"carol"}`)), want: subjectWith(whyMalformed)},
		{name: "fourth_segment_appended", run: asSubject(rewrite(func(tok string) string { return tok + ".e30" })), want: subjectWith(whyMalformed)},
		{name: "trailing_space_after_token", run: asSubject(rewrite(func(tok string) string { return tok + " " })), want: subjectWith(whyMalformed)},
		{name: "payload_swapped_under_genuine_signature", run: asSubject(swapPayload(genuineSubject, func(e *env) map[string]any {
			return changed(e.subjectClaims(), set("sub", "carol"))
		})), want: subjectWith(whySignature)},

		// Signatures of the wrong shape.
		{name: "signature_of_P384_length_under_ES256", run: asSubject(subjectForgery(keep, p384Sig)), want: subjectWith(whySignature)},
		{name: "signature_ASN1_DER_encoded", run: asSubject(subjectForgery(keep, derSig)), want: subjectWith(whySignature)},
		{name: "signature_all_zero", run: asSubject(subjectForgery(keep, rawSig(func(testing.TB, *env, string) []byte { return make([]byte, 64) }))), want: subjectWith(whySignature)},
		{name: "signature_r_and_s_equal_to_n", run: asSubject(subjectForgery(keep, rawSig(func(testing.TB, *env, string) []byte {
			n := ecdsaN().FillBytes(make([]byte, 32))
			return append(append([]byte(nil), n...), n...)
		}))), want: subjectWith(whySignature)},
		{name: "signature_of_65_bytes", run: asSubject(subjectForgery(keep, rawSig(func(t testing.TB, e *env, in string) []byte {
			return append(unB64(t, e.issuerSign(t, in)), 0)
		}))), want: subjectWith(whySignature)},

		// The same attacks on the actor token.
		{name: "actor_token_alg_none", run: asActor(actorForgery(set("alg", "none"), noSig)), want: actorWith(whyMalformed)},
		{name: "actor_token_HS256_keyed_with_PEM_public_key", run: asActor(actorForgery(set("alg", "HS256"), macSig(sha256.New, pkixPEM))), want: actorWith(whyAlg)},
		{name: "actor_token_kid_unknown", run: asActor(actorForgery(set("kid", "nope"), genuineSig)), want: actorWith(whyKey)},
		{name: "actor_token_signed_by_another_issuers_key", run: asActor(attackerSignedAs(typID, aliceIDClaims, carryingJWK)), want: actorWith(whyKey)},
		{name: "actor_token_crit_header", run: asActor(actorForgery(set("crit", []string{"nonce"}), genuineSig)), want: actorWith(whyCrit)},
		{name: "actor_token_duplicate_typ_header_subject+jwt_then_JWT", run: asActor(rawHeaderOn(aliceIDClaims, `{"alg":"ES256","kid":"%s","typ":"subject+jwt","typ":"JWT"}`)), want: actorWith(whyDupHeader)},
		{name: "actor_token_duplicate_alg_header_none_then_ES256", run: asActor(rawHeaderOn(aliceIDClaims, `{"alg":"none","alg":"ES256","kid":"%s","typ":"JWT"}`)), want: actorWith(whyDupHeader)},
		{name: "actor_token_payload_swapped", run: asActor(swapPayload(actorForgery(keep, genuineSig), func(e *env) map[string]any { return e.idClaims("eve", appID) })), want: actorWith(whySignature)},

		// And on the access token at the resource API.
		{name: "access_token_alg_none_at_API", run: atAPI(accessForgery(set("alg", "none"), noSig)), want: badBearer},
		{name: "access_token_HS256_keyed_with_PKIX_DER_at_API", run: atAPI(accessForgery(set("alg", "HS256"), macSig(sha256.New, pkixDER))), want: badBearer},
		{name: "access_token_signed_by_another_issuer_at_API", run: atAPI(attackerSignedAs(typAccess, accessClaimsOf, carryingJWK)), want: badBearer},
		{name: "access_token_kid_path_like_at_API", run: atAPI(accessForgery(set("kid", "../keys/current"), genuineSig)), want: badBearer},
		{name: "access_token_crit_header_at_API", run: atAPI(accessForgery(set("crit", []string{"exp"}), genuineSig)), want: badBearer},
		{name: "access_token_duplicate_alg_header_none_then_ES256_at_API", run: atAPI(rawHeaderOn(accessClaimsOf, `{"alg":"none","alg":"ES256","kid":"%s","typ":"at+jwt"}`)), want: bearerWith(whyDupHeader)},
		{name: "access_token_duplicate_typ_header_JWT_then_at+jwt_at_API", run: atAPI(rawHeaderOn(accessClaimsOf, `{"alg":"ES256","kid":"%s","typ":"JWT","typ":"at+jwt"}`)), want: bearerWith(whyDupHeader)},
		{name: "access_token_duplicate_kid_header_at_API", run: atAPI(rawHeaderOn(accessClaimsOf, `{"alg":"ES256","kid":"no-such-key","kid":"%s","typ":"at+jwt"}`)), want: bearerWith(whyDupHeader)},
		{name: "access_token_JWS_JSON_serialization_at_API", run: atAPI(func(t *testing.T, e *env) string {
			tok := accessForgery(keep, genuineSig)(t, e)
			p := strings.Split(tok, ".")
			return string(mustJSON(t, map[string]string{"payload": p[1], "protected": p[0], "signature": p[2]}))
		}), want: badBearer},
	}
	runFamily(t, cases)
}

// TestForgeryControls shows that each family's forging base is accepted
// when nothing is wrong with it, so that every refusal in the suite is due
// to the one thing each case changes.
func TestForgeryControls(t *testing.T) {
	t.Parallel()
	runControls(t, []control{
		{name: "forged_subject_token_with_the_issuers_header_and_key", run: asSubject(subjectForgery(keep, genuineSig))},
		{name: "hand_assembled_raw_header_and_payload", run: asSubject(rawHeader(`{"alg":"ES256","kid":"%s","typ":"subject+jwt"}`))},
		{name: "subject_token_signed_through_jose_Sign", run: asSubject(genuineSubject)},
		{name: "forged_actor_token_with_the_issuers_key", run: asActor(actorForgery(keep, genuineSig))},
		{name: "forged_access_token_at_API", run: atAPI(accessForgery(keep, genuineSig)), want: served("")},
		{name: "genuine_access_token_at_API", run: func(t *testing.T, e *env) response {
			return e.api(t, http.MethodGet, "/api/me", e.accessToken(t))
		}, want: served(`{"sub":"bob","act":{"sub":"alice"}}`)},
	})
}
