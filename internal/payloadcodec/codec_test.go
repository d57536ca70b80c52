package payloadcodec

import (
	"bytes"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

const secretToken = "SECRETTOKEN"

type transferInput struct {
	WochitVideoID string
	SourceURL     string
	Attempt       int
}

var sampleInput = transferInput{
	WochitVideoID: "6094092472a9105747957aa3",
	SourceURL: "https://storage.googleapis.com/b/video.mp4?X-Goog-Algorithm=GOOG4-RSA-SHA256" +
		"&X-Goog-Expires=86400&X-Goog-Signature=" + secretToken,
	Attempt: 3,
}

// payloadBytes is everything of p that Temporal stores.
func payloadBytes(t *testing.T, p *commonpb.Payload) []byte {
	t.Helper()
	b, err := proto.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDataConverterRoundTrip(t *testing.T) {
	ring := mustRing(t, "2026-12:"+testKey(1))
	dc := DataConverter(ring)

	p, err := dc.ToPayload(sampleInput)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{secretToken, "X-Goog", "storage.googleapis.com", "json/plain"} {
		if bytes.Contains(payloadBytes(t, p), []byte(leak)) {
			t.Errorf("encoded payload contains %q", leak)
		}
	}
	if got := string(p.Metadata[MetadataEncoding]); got != EncodingEncrypted {
		t.Errorf("encoding = %q, want %q", got, EncodingEncrypted)
	}
	if got := string(p.Metadata[MetadataKeyID]); got != "2026-12" {
		t.Errorf("key id = %q, want 2026-12", got)
	}
	if len(p.Metadata) != 2 {
		t.Errorf("metadata has %d entries, want only encoding and key id", len(p.Metadata))
	}

	var got transferInput
	if err := dc.FromPayload(p, &got); err != nil {
		t.Fatal(err)
	}
	if got != sampleInput {
		t.Fatalf("round trip = %+v, want %+v", got, sampleInput)
	}

	// Several values at once (activity arguments), and fresh nonces.
	ps, err := dc.ToPayloads(sampleInput, "second", sampleInput)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ps.Payloads[0].Data, ps.Payloads[2].Data) {
		t.Error("two encryptions of the same value are identical (nonce reused)")
	}
	var a, c transferInput
	var b string
	if err := dc.FromPayloads(ps, &a, &b, &c); err != nil {
		t.Fatal(err)
	}
	if a != sampleInput || b != "second" || c != sampleInput {
		t.Fatalf("FromPayloads = %+v, %q, %+v", a, b, c)
	}
}

// The codec itself restores the original payload exactly, metadata included.
func TestCodecPreservesWholePayload(t *testing.T) {
	codec := NewCodec(mustRing(t, "k:"+testKey(1)))
	orig := []*commonpb.Payload{
		{Metadata: map[string][]byte{"encoding": []byte("json/plain"), "messageType": []byte("x.Y")}, Data: []byte(`{"a":1}`)},
		{Metadata: map[string][]byte{"encoding": []byte("binary/null")}},
		{},
	}
	enc, err := codec.Encode(orig)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := codec.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if len(dec) != len(orig) {
		t.Fatalf("decoded %d payloads, want %d", len(dec), len(orig))
	}
	for i := range orig {
		if !proto.Equal(dec[i], orig[i]) {
			t.Errorf("payload %d: decoded %v, want %v", i, dec[i], orig[i])
		}
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey := testKey(1), testKey(2)
	oldRing := mustRing(t, "2026-06:"+oldKey)
	rotated := mustRing(t, "2026-12:"+newKey+",2026-06:"+oldKey+":decrypt-only")

	old, err := DataConverter(oldRing).ToPayload(sampleInput)
	if err != nil {
		t.Fatal(err)
	}
	var got transferInput
	if err := DataConverter(rotated).FromPayload(old, &got); err != nil {
		t.Fatalf("rotated ring cannot read a payload of the old key: %v", err)
	}
	if got != sampleInput {
		t.Fatalf("decoded %+v", got)
	}

	fresh, err := DataConverter(rotated).ToPayload(sampleInput)
	if err != nil {
		t.Fatal(err)
	}
	if id := string(fresh.Metadata[MetadataKeyID]); id != "2026-12" {
		t.Fatalf("new payload key id = %q, want 2026-12", id)
	}
	// The old key cannot read it: it really is encrypted with the new one.
	err = DataConverter(oldRing).FromPayload(fresh, &got)
	if err == nil || !strings.Contains(err.Error(), `"2026-12"`) {
		t.Fatalf("old ring on a new payload: %v, want an unknown key id error naming 2026-12", err)
	}
}

func TestUnknownKeyID(t *testing.T) {
	p, err := DataConverter(mustRing(t, "gone-2025:"+testKey(1))).ToPayload(sampleInput)
	if err != nil {
		t.Fatal(err)
	}
	secret := testKey(2)
	_, err = NewCodec(mustRing(t, "2026-12:"+secret)).Decode([]*commonpb.Payload{p})
	if err == nil {
		t.Fatal("decoding with a ring that lacks the key succeeded")
	}
	if !strings.Contains(err.Error(), `"gone-2025"`) {
		t.Errorf("error %q does not name the key id", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q contains a key", err)
	}

	// Missing or malformed key id.
	for _, md := range []map[string][]byte{
		{MetadataEncoding: []byte(EncodingEncrypted)},
		{MetadataEncoding: []byte(EncodingEncrypted), MetadataKeyID: []byte("bad id\n")},
	} {
		bad := &commonpb.Payload{Metadata: md, Data: p.Data}
		if _, err := NewCodec(mustRing(t, "2026-12:"+secret)).Decode([]*commonpb.Payload{bad}); err == nil {
			t.Errorf("payload with metadata %q decoded", md)
		}
	}
}

func TestTamperedCiphertext(t *testing.T) {
	ring := mustRing(t, "k:"+testKey(1))
	codec := NewCodec(ring)
	enc, err := codec.Encode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"hello"`)}})
	if err != nil {
		t.Fatal(err)
	}
	data := enc[0].Data
	for _, pos := range []int{0, nonceSize, len(data) / 2, len(data) - 1} { // nonce, ciphertext, tag
		bad := proto.Clone(enc[0]).(*commonpb.Payload)
		bad.Data[pos] ^= 0x01
		if _, err := codec.Decode([]*commonpb.Payload{bad}); err == nil {
			t.Errorf("payload with byte %d flipped decoded", pos)
		}
	}
	for _, n := range []int{0, nonceSize, nonceSize + tagSize - 1, len(data) - 1} {
		bad := proto.Clone(enc[0]).(*commonpb.Payload)
		bad.Data = bad.Data[:n]
		if _, err := codec.Decode([]*commonpb.Payload{bad}); err == nil {
			t.Errorf("payload truncated to %d bytes decoded", n)
		}
	}
	// The untouched one still decodes (the loop did not mutate it).
	if _, err := codec.Decode(enc); err != nil {
		t.Fatalf("original: %v", err)
	}
}

// Relabelling a payload with another key id in the ring must fail even when
// both ids map to the same key: the id is authenticated.
func TestSwappedKeyID(t *testing.T) {
	same := testKey(5)
	ring := mustRing(t, "a:"+same+",b:"+same+":decrypt-only,c:"+testKey(6)+":decrypt-only")
	codec := NewCodec(ring)
	enc, err := codec.Encode([]*commonpb.Payload{{Data: []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"b", "c"} {
		bad := proto.Clone(enc[0]).(*commonpb.Payload)
		bad.Metadata[MetadataKeyID] = []byte(id)
		if _, err := codec.Decode([]*commonpb.Payload{bad}); err == nil {
			t.Errorf("payload relabelled a -> %s decoded", id)
		}
	}
}

func TestPlainPayloadsPassThrough(t *testing.T) {
	codec := NewCodec(mustRing(t, "k:"+testKey(1)))
	plainDC := converter.GetDefaultDataConverter()
	ps, err := plainDC.ToPayloads(sampleInput, nil, []byte{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	ps.Payloads = append(ps.Payloads, &commonpb.Payload{}) // no metadata at all
	dec, err := codec.Decode(ps.Payloads)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ps.Payloads {
		if !proto.Equal(dec[i], ps.Payloads[i]) {
			t.Errorf("plain payload %d changed: %v -> %v", i, ps.Payloads[i], dec[i])
		}
	}
	// And through the data converter: an old, unencrypted history value.
	var got transferInput
	if err := DataConverter(mustRing(t, "k:"+testKey(1))).FromPayload(ps.Payloads[0], &got); err != nil || got != sampleInput {
		t.Fatalf("plain payload through DataConverter = %+v, %v", got, err)
	}

	// A mix of plain and encrypted payloads decodes too.
	enc, err := codec.Encode(ps.Payloads[:1])
	if err != nil {
		t.Fatal(err)
	}
	mixed, err := codec.Decode([]*commonpb.Payload{ps.Payloads[1], enc[0]})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(mixed[0], ps.Payloads[1]) || !proto.Equal(mixed[1], ps.Payloads[0]) {
		t.Fatalf("mixed decode = %v", mixed)
	}
}

func TestNewCodecNeedsKeys(t *testing.T) {
	for _, ring := range []*Keyring{nil, {}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewCodec(%v) did not panic", ring)
				}
			}()
			NewCodec(ring)
		}()
	}
}
