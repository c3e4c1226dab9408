package claims_test

import (
	"fmt"

	"github.com/actas/actas/claims"
)

// ExampleParseScopeLenient parses the scope of the reference document's
// authorize request, written with commas.
func ExampleParseScopeLenient() {
	s := claims.ParseScopeLenient("internal_user_impersonate,openid,internal_org_user_mgt_view")
	fmt.Println(s.Contains("internal_user_impersonate"), len(s))
	fmt.Println(s.Without("internal_user_impersonate"))
	// Output:
	// true 3
	// openid internal_org_user_mgt_view
}

// ExampleActor_Chain reads an act claim nested as RFC 8693 §4.1 describes:
// the current actor first.
func ExampleActor_Chain() {
	act := &claims.Actor{Subject: "alice", Act: &claims.Actor{Subject: "root-admin"}}
	fmt.Println(act.Chain(), act.Depth())
	// Output:
	// [alice root-admin] 2
}
