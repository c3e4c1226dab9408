package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/actas/actas/store"
	"github.com/actas/actas/store/memory"
)

// keyFile is a signing key and where it came from ("" for an ephemeral
// key).
type keyFile struct {
	File string
	Key  store.PrivateKey
}

// keyExtensions are the files -keys reads: PEM (PKCS #8, SEC 1, PKCS #1)
// and JWK.
var keyExtensions = []string{".pem", ".jwk", ".json"}

// loadKeys reads every key file of dir, sorted by name. Every key verifies;
// the last one signs. With dir empty it generates an ephemeral ES256 key.
func loadKeys(dir string) (*memory.KeySet, []keyFile, error) {
	if dir == "" {
		key, err := store.GenerateKey(store.ES256)
		if err != nil {
			return nil, nil, err
		}
		ks, err := memory.NewKeySet(key)
		if err != nil {
			return nil, nil, err
		}
		return ks, []keyFile{{Key: key}}, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("-keys: %w", err)
	}
	var files []keyFile
	for _, e := range entries { // ReadDir sorts by file name
		if !e.Type().IsRegular() || !slices.Contains(keyExtensions, strings.ToLower(filepath.Ext(e.Name()))) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		key, err := store.LoadPrivateKeyFile(path, "")
		if err != nil {
			return nil, nil, fmt.Errorf("-keys: %s: %w", path, err)
		}
		for _, f := range files {
			if f.Key.ID == key.ID {
				return nil, nil, fmt.Errorf("-keys: %s: key ID %q is also the key ID of %s", path, key.ID, f.File)
			}
		}
		files = append(files, keyFile{File: path, Key: key})
	}
	if len(files) == 0 {
		return nil, nil, errors.New("-keys: " + dir + ": no *.pem, *.jwk or *.json key file")
	}
	last := files[len(files)-1]
	ks, err := memory.NewKeySet(last.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("-keys: %s: %w", last.File, err)
	}
	for _, f := range files[:len(files)-1] {
		// The earlier keys only verify, until they are removed from the
		// directory and the server restarted.
		if err := ks.Add(f.Key.Public(), time.Time{}); err != nil {
			return nil, nil, fmt.Errorf("-keys: %s: %w", f.File, err)
		}
	}
	return ks, files, nil
}
