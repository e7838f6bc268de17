// Command tlogcheck audits a running Tilelog server with Go's reference transparency-log packages,
// golang.org/x/mod/sumdb/tlog and golang.org/x/mod/sumdb/note. It is driven by test/interop/go-tlog.test.ts.
//
// Build (GOPATH mode, Debian's golang-golang-x-mod-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o tlogcheck ./test/interop/go/tlogcheck
//
// Usage:
//
//	tlogcheck [-old SIZE:BASE64ROOT]... [-oldnote FILE]... [-samples 200] [-seed 1] [-no-own-tile-auth] <base URL> <vkey>
//
// -oldnote FILE is an older signed checkpoint, opened with the same vkey and parsed like /checkpoint.
//
// What it checks, against the latest /checkpoint only (everything else is untrusted until proven):
//
//  1. note.Open with note.NewVerifier(vkey); the checkpoint body (c2sp.org/tlog-checkpoint) is parsed here,
//     strictly: origin (must be the key name), decimal size, canonical base64 of a 32-byte root, then
//     optional extension lines. (tlog.ParseTree wants the "go.sum database tree" format instead.)
//  2. A tlog.TileReader over HTTP with the C2SP tlog-tiles layout (/tile/<L>/<N>[.p/<W>], height 8 implied),
//     used through tlog.TileHashReader, which authenticates the right-edge tiles against the checkpoint root;
//     the reader itself checks every full tile against its parent (x/mod 0.7.0's TileHashReader skips some:
//     see tileReader).
//  3. tlog.TreeHash(size) equals the checkpoint root.
//  4. Every entry bundle /tile/entries/<N>[.p/<W>] decodes (uint16 big-endian length prefixes, exactly W
//     entries, no trailing bytes; gzip when Content-Encoding says so) and tlog.RecordHash of each entry equals
//     the authenticated level-0 hash of the tree.
//  5. For sampled indexes: tlog.ProveRecord + tlog.CheckRecord, and the server's /v1/proof/inclusion JSON
//     equals Go's proof element by element.
//  6. For each -old size:root and -oldnote checkpoint: tlog.TreeHash(old) equals the old root, tlog.ProveTree
//     + tlog.CheckTree, and the server's /v1/proof/consistency JSON equals Go's proof element by element.
//
// On success it prints one JSON object on stdout and exits 0; on any failure it prints "tlogcheck: <why>" on
// stderr and exits 1 (2 for usage errors).
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const tileHeight = 8

type oldTree struct {
	size int64
	root tlog.Hash
}

type oldList []oldTree

func (o *oldList) String() string { return fmt.Sprint(*o) }
func (o *oldList) Set(s string) error {
	i := strings.IndexByte(s, ':')
	if i < 0 {
		return errors.New("want SIZE:BASE64ROOT")
	}
	n, err := parseSize(s[:i])
	if err != nil {
		return err
	}
	h, err := parseRoot(s[i+1:])
	if err != nil {
		return err
	}
	*o = append(*o, oldTree{n, h})
	return nil
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlogcheck: "+format+"\n", args...)
	os.Exit(1)
}

// parseSize parses a canonical decimal tree size (no sign, no leading zeros) that fits in an int64.
func parseSize(s string) (int64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("malformed tree size %q", s)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("malformed tree size %q: %v", s, err)
	}
	return n, nil
}

// parseRoot parses canonical standard base64 (padded, zero trailing bits) of exactly 32 bytes.
func parseRoot(s string) (tlog.Hash, error) {
	var h tlog.Hash
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != tlog.HashSize || base64.StdEncoding.EncodeToString(b) != s {
		return h, fmt.Errorf("malformed root hash %q", s)
	}
	copy(h[:], b)
	return h, nil
}

type checkpoint struct {
	origin     string
	tree       tlog.Tree
	extensions []string
}

// parseCheckpoint parses a c2sp.org/tlog-checkpoint body strictly.
func parseCheckpoint(text string) (checkpoint, error) {
	var c checkpoint
	if !strings.HasSuffix(text, "\n") {
		return c, errors.New("checkpoint body does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return c, fmt.Errorf("checkpoint body has %d lines, want at least 3", len(lines))
	}
	c.origin = lines[0]
	if c.origin == "" {
		return c, errors.New("checkpoint origin is empty")
	}
	n, err := parseSize(lines[1])
	if err != nil {
		return c, err
	}
	h, err := parseRoot(lines[2])
	if err != nil {
		return c, err
	}
	for _, l := range lines[3:] {
		if l == "" {
			return c, errors.New("empty extension line in checkpoint")
		}
	}
	c.tree = tlog.Tree{N: n, Hash: h}
	c.extensions = lines[3:]
	return c, nil
}

// client fetches from the log, with counters.
type client struct {
	base     string
	http     *http.Client
	mu       sync.Mutex
	requests int
	gzipped  int
}

// get fetches path (which starts with "/") and returns the decoded body. It asks for gzip itself, so Go's
// transport does not decompress transparently and a gzip Content-Encoding is handled (and counted) here.
func (c *client) get(path string) ([]byte, error) {
	req, err := http.NewRequest("GET", c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %v", path, err)
	}
	c.mu.Lock()
	c.requests++
	c.mu.Unlock()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.300s", path, resp.Status, body)
	}
	switch enc := resp.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("GET %s: gzip: %v", path, err)
		}
		body, err = io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("GET %s: gzip: %v", path, err)
		}
		c.mu.Lock()
		c.gzipped++
		c.mu.Unlock()
	default:
		return nil, fmt.Errorf("GET %s: unexpected Content-Encoding %q", path, enc)
	}
	return body, nil
}

// c2spIndex encodes n as 3-digit path elements, all but the last prefixed with "x" (c2sp.org/tlog-tiles).
func c2spIndex(n int64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}

// c2spTilePath is the C2SP tlog-tiles path of a Go tile: no height element, "entries" instead of "data",
// ".p/<W>" only for partial tiles. (tlog.Tile.Path gives tile/8/L/... — the sumdb layout, not ours.)
func c2spTilePath(t tlog.Tile) string {
	if t.H != tileHeight {
		panic(fmt.Sprintf("tile height %d", t.H))
	}
	level := strconv.Itoa(t.L)
	if t.L == -1 {
		level = "entries"
	}
	p := "/tile/" + level + "/" + c2spIndex(t.N)
	if t.W != 1<<tileHeight {
		p += ".p/" + strconv.Itoa(t.W)
	}
	return p
}

// tileReader is a tlog.TileReader over HTTP with the C2SP layout; SaveTiles is a no-op.
//
// It does not rely on tlog.TileHashReader alone to authenticate tiles: in x/mod 0.7.0, tileHashReader.ReadHashes
// checks full tiles against their parents starting at position len(stx) (the number of tree-hash subtree indexes)
// instead of at the number of distinct tree-hash tiles, so the first few non-tree-hash tiles of a request are
// used unauthenticated (a forged /tile/0/001 in a tree of 1,000 entries comes back from ReadHashes unchanged).
// So, unless -no-own-tile-auth: every full tile read here must hash (tlog.HashFromTile on its two halves,
// tlog.NodeHash) to the hash its parent tile holds for it, recursively up to a partial tile of the right edge;
// those are exactly the tiles TileHashReader authenticates against the checkpoint root (tree-hash tiles), which
// it does correctly, on every use. Bytes are memoized after that check (a tile's bytes never change).
type tileReader struct {
	c       *client
	size    int64
	ownAuth bool
	mu      sync.Mutex
	cache   map[tlog.Tile][]byte
	paths   map[string]bool
	authed  map[tlog.Tile]bool // distinct tiles checked against their parent
}

func (r *tileReader) Height() int { return tileHeight }

// parent is the tile holding, at level (t.L+1)*8, the hash of full tile t; ok is false when the tree has no
// hashes at that level.
func (r *tileReader) parent(t tlog.Tile) (p tlog.Tile, ok bool) {
	hashes := r.size >> (uint(t.L+1) * tileHeight) // hashes at the parent's level
	p = tlog.Tile{H: tileHeight, L: t.L + 1, N: t.N >> tileHeight, W: 1 << tileHeight}
	if rest := hashes - p.N<<tileHeight; rest < int64(p.W) {
		if rest <= 0 {
			return p, false
		}
		p.W = int(rest)
	}
	return p, true
}

func (r *tileReader) tile(t tlog.Tile) ([]byte, error) {
	r.mu.Lock()
	b, ok := r.cache[t]
	r.mu.Unlock()
	if ok {
		return b, nil
	}
	path := c2spTilePath(t)
	b, err := r.c.get(path)
	if err != nil {
		return nil, err
	}
	if len(b) != t.W*tlog.HashSize {
		return nil, fmt.Errorf("GET %s: %d bytes, want %d", path, len(b), t.W*tlog.HashSize)
	}
	if p, ok := r.parent(t); r.ownAuth && t.W == 1<<tileHeight && ok {
		pb, err := r.tile(p)
		if err != nil {
			return nil, err
		}
		want, err := tlog.HashFromTile(p, pb, tlog.StoredHashIndex((t.L+1)*tileHeight, t.N))
		if err != nil {
			return nil, fmt.Errorf("tile %s: parent %s: %v", path, c2spTilePath(p), err)
		}
		left, err1 := tlog.HashFromTile(t, b, tlog.StoredHashIndex(t.L*tileHeight+tileHeight-1, 2*t.N))
		right, err2 := tlog.HashFromTile(t, b, tlog.StoredHashIndex(t.L*tileHeight+tileHeight-1, 2*t.N+1))
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("tile %s: %v %v", path, err1, err2)
		}
		if got := tlog.NodeHash(left, right); got != want {
			return nil, fmt.Errorf("tile %s does not match its parent %s: hashes to %s, parent holds %s", path, c2spTilePath(p), b64(got), b64(want))
		}
		r.mu.Lock()
		r.authed[t] = true
		r.mu.Unlock()
	}
	r.mu.Lock()
	r.cache[t] = b
	r.paths[path] = true
	r.mu.Unlock()
	return b, nil
}

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	errs := make([]error, len(tiles))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, t := range tiles {
		wg.Add(1)
		go func(i int, t tlog.Tile) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i], errs[i] = r.tile(t)
		}(i, t)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

// readBundle fetches and decodes the entry bundle with index n, which must hold exactly w entries.
func readBundle(c *client, n int64, w int) ([][]byte, error) {
	p := c2spTilePath(tlog.Tile{H: tileHeight, L: -1, N: n, W: w})
	b, err := c.get(p)
	if err != nil {
		return nil, err
	}
	var entries [][]byte
	for off := 0; off < len(b); {
		if len(b)-off < 2 {
			return nil, fmt.Errorf("GET %s: truncated length prefix at byte %d", p, off)
		}
		l := int(binary.BigEndian.Uint16(b[off:]))
		off += 2
		if len(b)-off < l {
			return nil, fmt.Errorf("GET %s: entry %d: length %d overruns the bundle at byte %d", p, len(entries), l, off)
		}
		entries = append(entries, b[off:off+l])
		off += l
	}
	if len(entries) != w {
		return nil, fmt.Errorf("GET %s: %d entries, want %d", p, len(entries), w)
	}
	return entries, nil
}

func b64(h tlog.Hash) string { return base64.StdEncoding.EncodeToString(h[:]) }

func b64s(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = b64(h)
	}
	return out
}

// sameProof compares the server's proof with Go's, element by element.
func sameProof(what string, server []string, gop []tlog.Hash) error {
	if len(server) != len(gop) {
		return fmt.Errorf("%s: server proof has %d hashes, Go's has %d\nserver: %v\ngo:     %v", what, len(server), len(gop), server, b64s(gop))
	}
	for i := range gop {
		if server[i] != b64(gop[i]) {
			return fmt.Errorf("%s: proof element %d: server %s, Go %s\nserver: %v\ngo:     %v", what, i, server[i], b64(gop[i]), server, b64s(gop))
		}
	}
	return nil
}

func getJSON(c *client, path string, v interface{}) error {
	b, err := c.get(path)
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("GET %s: %v: %.300s", path, err, b)
	}
	return nil
}

type inclusionJSON struct {
	Index    int64    `json:"index"`
	TreeSize int64    `json:"treeSize"`
	LeafHash string   `json:"leafHash"`
	Proof    []string `json:"proof"`
}

type consistencyJSON struct {
	From  int64    `json:"from"`
	To    int64    `json:"to"`
	Proof []string `json:"proof"`
}

type oldResult struct {
	Size       int64  `json:"size"`
	Root       string `json:"root"`
	ProofLen   int    `json:"proofLen"`
	ServerSame bool   `json:"serverSame"`
}

type result struct {
	OK              bool        `json:"ok"`
	Origin          string      `json:"origin"`
	Size            int64       `json:"size"`
	Root            string      `json:"root"`
	Extensions      []string    `json:"extensions"`
	Signatures      int         `json:"signatures"`
	Unverified      int         `json:"unverified"`
	EntriesChecked  int64       `json:"entriesChecked"`
	Bundles         int64       `json:"bundles"`
	PartialBundle   int         `json:"partialBundleWidth"`
	InclusionProofs int         `json:"inclusionProofs"`
	SampleIndexes   []int64     `json:"sampleIndexes"`
	Old             []oldResult `json:"old"`
	HashTiles       int         `json:"hashTiles"`
	TilesByParent   int         `json:"tilesAuthenticatedByParent"`
	TilePaths       []string    `json:"tilePathsSample"`
	Requests        int         `json:"requests"`
	GzipResponses   int         `json:"gzipResponses"`
	Seed            int64       `json:"seed"`
	Ms              int64       `json:"ms"`
}

func main() {
	var olds oldList
	flag.Var(&olds, "old", "SIZE:BASE64ROOT of an older checkpoint to prove consistency with (repeatable)")
	var oldNotes stringList
	flag.Var(&oldNotes, "oldnote", "file holding an older signed checkpoint to prove consistency with (repeatable)")
	samples := flag.Int("samples", 200, "random indexes to prove inclusion for (besides first, last and tile edges); all when the log is smaller")
	seed := flag.Int64("seed", 1, "seed of the random sample")
	noOwnAuth := flag.Bool("no-own-tile-auth", false, "rely on tlog.TileHashReader alone to authenticate tiles (see tileReader)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: tlogcheck [-old SIZE:BASE64ROOT]... [-oldnote FILE]... [-samples N] [-seed N] [-no-own-tile-auth] <base URL> <vkey>")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	start := time.Now()
	c := &client{base: strings.TrimSuffix(flag.Arg(0), "/"), http: &http.Client{Timeout: 20 * time.Second}}
	res := result{Seed: *seed, Extensions: []string{}}

	// 1. The checkpoint: a signed note, verified with Go's note package.
	verifier, err := note.NewVerifier(flag.Arg(1))
	if err != nil {
		fail("note.NewVerifier: %v", err)
	}
	for _, f := range oldNotes {
		b, err := os.ReadFile(f)
		if err != nil {
			fail("%v", err)
		}
		on, err := note.Open(b, note.VerifierList(verifier))
		if err != nil {
			fail("note verification of old checkpoint %s failed: note.Open: %v", f, err)
		}
		ocp, err := parseCheckpoint(on.Text)
		if err != nil {
			fail("parsing old checkpoint %s: %v\n%s", f, err, on.Text)
		}
		if ocp.origin != verifier.Name() {
			fail("old checkpoint %s: origin %q is not the key name %q", f, ocp.origin, verifier.Name())
		}
		olds = append(olds, oldTree{ocp.tree.N, ocp.tree.Hash})
	}
	msg, err := c.get("/checkpoint")
	if err != nil {
		fail("%v", err)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail("note verification of /checkpoint failed: note.Open: %v", err)
	}
	res.Signatures, res.Unverified = len(n.Sigs), len(n.UnverifiedSigs)
	cp, err := parseCheckpoint(n.Text)
	if err != nil {
		fail("parsing /checkpoint: %v\n%s", err, n.Text)
	}
	if cp.origin != verifier.Name() {
		fail("checkpoint origin %q is not the key name %q", cp.origin, verifier.Name())
	}
	tree := cp.tree
	res.Origin, res.Size, res.Root = cp.origin, tree.N, b64(tree.Hash)
	res.Extensions = append(res.Extensions, cp.extensions...)
	if tree.N == 0 {
		fail("the checkpoint is of the empty tree: nothing to prove")
	}

	// 2. Tiles, authenticated by Go's TileHashReader.
	tr := &tileReader{c: c, size: tree.N, ownAuth: !*noOwnAuth, cache: map[tlog.Tile][]byte{}, paths: map[string]bool{}, authed: map[tlog.Tile]bool{}}
	hr := tlog.TileHashReader(tree, tr)

	// 3. The tree hash.
	th, err := tlog.TreeHash(tree.N, hr)
	if err != nil {
		fail("tlog.TreeHash(%d): %v", tree.N, err)
	}
	if th != tree.Hash {
		fail("tlog.TreeHash(%d) = %s, checkpoint root %s", tree.N, b64(th), b64(tree.Hash))
	}

	// 4. Every entry bundle against the authenticated level-0 hashes.
	leafHashes := make([]tlog.Hash, tree.N)
	const chunk = 64 << tileHeight
	for lo := int64(0); lo < tree.N; lo += chunk {
		hi := lo + chunk
		if hi > tree.N {
			hi = tree.N
		}
		idx := make([]int64, 0, hi-lo)
		for i := lo; i < hi; i++ {
			idx = append(idx, tlog.StoredHashIndex(0, i))
		}
		hs, err := hr.ReadHashes(idx)
		if err != nil {
			fail("TileHashReader.ReadHashes(level-0 hashes %d..%d): %v", lo, hi-1, err)
		}
		copy(leafHashes[lo:hi], hs)
	}
	bundles := (tree.N + (1 << tileHeight) - 1) >> tileHeight
	type bundleErr struct {
		n   int64
		err error
	}
	var wg sync.WaitGroup
	errc := make(chan bundleErr, bundles)
	sem := make(chan struct{}, 8)
	entries := make([][]byte, tree.N)
	for b := int64(0); b < bundles; b++ {
		w := 1 << tileHeight
		if rest := tree.N - b<<tileHeight; rest < int64(w) {
			w = int(rest)
			res.PartialBundle = w
		}
		wg.Add(1)
		go func(b int64, w int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			es, err := readBundle(c, b, w)
			if err != nil {
				errc <- bundleErr{b, err}
				return
			}
			for j, e := range es {
				i := b<<tileHeight + int64(j)
				entries[i] = e
				if h := tlog.RecordHash(e); h != leafHashes[i] {
					errc <- bundleErr{b, fmt.Errorf("entry %d: tlog.RecordHash(bundle bytes %q) = %s, the authenticated tree has %s", i, e, b64(h), b64(leafHashes[i]))}
					return
				}
			}
		}(b, w)
	}
	wg.Wait()
	close(errc)
	for e := range errc {
		fail("entry bundle %d: %v", e.n, e.err)
	}
	res.EntriesChecked, res.Bundles = tree.N, bundles

	// 5. Inclusion proofs for a sample of indexes.
	pick := map[int64]bool{}
	if tree.N <= int64(*samples)+16 {
		for i := int64(0); i < tree.N; i++ {
			pick[i] = true
		}
	} else {
		for _, i := range []int64{0, 1, 255, 256, 257, 511, 512, 65535, 65536, 65537, tree.N - 257, tree.N - 256, tree.N - 2, tree.N - 1} {
			if i >= 0 && i < tree.N {
				pick[i] = true
			}
		}
		for _, o := range olds {
			if o.size >= 1 && o.size <= tree.N {
				pick[o.size-1] = true
			}
		}
		rng := rand.New(rand.NewSource(*seed))
		for k := 0; k < *samples; k++ {
			pick[rng.Int63n(tree.N)] = true
		}
	}
	for i := range pick {
		res.SampleIndexes = append(res.SampleIndexes, i)
	}
	sort.Slice(res.SampleIndexes, func(a, b int) bool { return res.SampleIndexes[a] < res.SampleIndexes[b] })
	for _, i := range res.SampleIndexes {
		proof, err := tlog.ProveRecord(tree.N, i, hr)
		if err != nil {
			fail("tlog.ProveRecord(%d, %d): %v", tree.N, i, err)
		}
		leaf := tlog.RecordHash(entries[i])
		if err := tlog.CheckRecord(proof, tree.N, tree.Hash, i, leaf); err != nil {
			fail("tlog.CheckRecord(index %d, size %d): %v", i, tree.N, err)
		}
		var sp inclusionJSON
		if err := getJSON(c, fmt.Sprintf("/v1/proof/inclusion?index=%d&treeSize=%d", i, tree.N), &sp); err != nil {
			fail("%v", err)
		}
		if sp.Index != i || sp.TreeSize != tree.N || sp.LeafHash != b64(leaf) {
			fail("/v1/proof/inclusion?index=%d&treeSize=%d: server says index %d, treeSize %d, leafHash %s; Go: index %d, treeSize %d, leafHash %s", i, tree.N, sp.Index, sp.TreeSize, sp.LeafHash, i, tree.N, b64(leaf))
		}
		if err := sameProof(fmt.Sprintf("inclusion proof of index %d in size %d", i, tree.N), sp.Proof, proof); err != nil {
			fail("%v", err)
		}
		res.InclusionProofs++
	}

	// 6. Consistency with older checkpoints.
	for _, o := range olds {
		if o.size < 1 || o.size > tree.N {
			fail("-old size %d is not in 1..%d", o.size, tree.N)
		}
		oh, err := tlog.TreeHash(o.size, hr)
		if err != nil {
			fail("tlog.TreeHash(%d): %v", o.size, err)
		}
		if oh != o.root {
			fail("tlog.TreeHash(%d) over the tiles of size %d = %s, but the old checkpoint's root is %s", o.size, tree.N, b64(oh), b64(o.root))
		}
		proof, err := tlog.ProveTree(tree.N, o.size, hr)
		if err != nil {
			fail("tlog.ProveTree(%d, %d): %v", tree.N, o.size, err)
		}
		if err := tlog.CheckTree(proof, tree.N, tree.Hash, o.size, o.root); err != nil {
			fail("tlog.CheckTree(size %d -> %d): %v", o.size, tree.N, err)
		}
		var sp consistencyJSON
		if err := getJSON(c, fmt.Sprintf("/v1/proof/consistency?from=%d&to=%d", o.size, tree.N), &sp); err != nil {
			fail("%v", err)
		}
		if sp.From != o.size || sp.To != tree.N {
			fail("/v1/proof/consistency?from=%d&to=%d: server says from %d to %d", o.size, tree.N, sp.From, sp.To)
		}
		if err := sameProof(fmt.Sprintf("consistency proof %d -> %d", o.size, tree.N), sp.Proof, proof); err != nil {
			fail("%v", err)
		}
		res.Old = append(res.Old, oldResult{Size: o.size, Root: b64(o.root), ProofLen: len(proof), ServerSame: true})
	}

	res.HashTiles, res.TilesByParent = len(tr.paths), len(tr.authed)
	for p := range tr.paths {
		if strings.Contains(p, ".p/") || !strings.HasPrefix(p, "/tile/0/") {
			res.TilePaths = append(res.TilePaths, p)
		}
	}
	sort.Strings(res.TilePaths)
	res.Requests, res.GzipResponses = c.requests, c.gzipped
	res.Ms = time.Since(start).Milliseconds()
	res.OK = true
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fail("%v", err)
	}
}
