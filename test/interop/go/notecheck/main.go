// Command notecheck is Tilelog's interop harness around golang.org/x/mod/sumdb/note (the reference
// implementation of c2sp.org/signed-note). It is driven by test/interop/go-note.test.ts.
//
// Build (GOPATH mode, Debian's golang-golang-x-mod-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o notecheck ./test/interop/go/notecheck
//
// Usage (input on stdin, one JSON object on stdout, exit status 0 even when the note is rejected):
//
//	notecheck open <vkey>...          note.Open with note.NewVerifier for each vkey
//	notecheck sign <skey>...          note.Sign of the text on stdin with note.NewSigner for each skey
//	notecheck cosigned <vkey>...      note.Open with a cosignature/v1 (type 0x04) verifier written here from
//	                                  c2sp.org/tlog-cosignature, on Go's crypto/ed25519
//	notecheck openmany <vkey>...      stdin is a JSON array of base64-encoded notes; prints a JSON array of
//	                                  note.Open results (for differential tests)
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

type sig struct {
	Name   string `json:"name"`
	Hash   uint32 `json:"hash"`
	Base64 string `json:"base64"`
}

type result struct {
	OK         bool     `json:"ok"`
	Error      string   `json:"error,omitempty"`
	Text       string   `json:"text,omitempty"`
	Note       string   `json:"note,omitempty"`
	Sigs       []sig    `json:"sigs,omitempty"`
	Unverified []sig    `json:"unverified,omitempty"`
	Many       []result `json:"many,omitempty"`
}

func sigs(in []note.Signature) []sig {
	out := []sig{}
	for _, s := range in {
		out = append(out, sig{s.Name, s.Hash, s.Base64})
	}
	return out
}

// cosigVerifier verifies cosignature/v1 signatures: keyID || u64 timestamp || Ed25519 signature over
// "cosignature/v1\ntime <t>\n" || checkpoint text.
type cosigVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.hash }
func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	m := []byte(fmt.Sprintf("cosignature/v1\ntime %d\n%s", t, msg))
	return ed25519.Verify(v.key, m, sig[8:])
}

func newCosigVerifier(vkey string) (note.Verifier, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 || len(parts[1]) != 8 {
		return nil, errors.New("malformed cosigner vkey")
	}
	hash, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(key) != 33 || key[0] != 0x04 {
		return nil, errors.New("malformed cosigner vkey key")
	}
	h := sha256.Sum256(append([]byte(parts[0]+"\n"), key...))
	if binary.BigEndian.Uint32(h[:4]) != uint32(hash) {
		return nil, errors.New("cosigner vkey hash mismatch")
	}
	return &cosigVerifier{parts[0], uint32(hash), ed25519.PublicKey(key[1:])}, nil
}

func open(msg []byte, vs []note.Verifier) result {
	n, err := note.Open(msg, note.VerifierList(vs...))
	if err != nil {
		return result{Error: err.Error()}
	}
	return result{OK: true, Text: n.Text, Sigs: sigs(n.Sigs), Unverified: sigs(n.UnverifiedSigs)}
}

func run(args []string, stdin []byte) result {
	if len(args) < 1 {
		return result{Error: "usage: notecheck open|sign|cosigned <key>..."}
	}
	switch args[0] {
	case "open", "cosigned", "openmany":
		var vs []note.Verifier
		for _, k := range args[1:] {
			var v note.Verifier
			var err error
			if args[0] != "cosigned" {
				v, err = note.NewVerifier(k)
			} else {
				v, err = newCosigVerifier(k)
			}
			if err != nil {
				return result{Error: "NewVerifier: " + err.Error()}
			}
			vs = append(vs, v)
		}
		if args[0] == "openmany" {
			var notes [][]byte
			if err := json.Unmarshal(stdin, &notes); err != nil {
				return result{Error: "openmany: " + err.Error()}
			}
			var results []result
			for _, msg := range notes {
				results = append(results, open(msg, vs))
			}
			return result{OK: true, Many: results}
		}
		return open(stdin, vs)
	case "sign":
		var ss []note.Signer
		for _, k := range args[1:] {
			s, err := note.NewSigner(k)
			if err != nil {
				return result{Error: "NewSigner: " + err.Error()}
			}
			ss = append(ss, s)
		}
		msg, err := note.Sign(&note.Note{Text: string(stdin)}, ss...)
		if err != nil {
			return result{Error: err.Error()}
		}
		return result{OK: true, Note: string(msg)}
	}
	return result{Error: "unknown command " + args[0]}
}

func main() {
	stdin, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := json.NewEncoder(os.Stdout).Encode(run(os.Args[1:], stdin)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
