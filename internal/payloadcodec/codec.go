package payloadcodec

import (
	"crypto/rand"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

const (
	// MetadataEncoding is the standard Temporal metadata key for a payload's encoding.
	MetadataEncoding = converter.MetadataEncoding
	// MetadataKeyID is the metadata key naming the key that encrypted a payload.
	MetadataKeyID = "encryption-key-id"
	// EncodingEncrypted is the encoding of payloads produced by this codec.
	EncodingEncrypted = "binary/encrypted"
)

const (
	nonceSize = 12 // AES-GCM standard nonce
	tagSize   = 16
)

type codec struct{ ring *Keyring }

// NewCodec returns a PayloadCodec that encrypts each payload with
// AES-256-GCM under the ring's encrypting key (never a decrypt-only one).
//
// The plaintext is the whole original payload (metadata and data,
// proto-marshalled), so the original encoding and any other metadata are
// hidden too. The encrypted payload's data is nonce(12) || ciphertext || tag
// with a fresh random nonce, its metadata is
//
//	encoding:          binary/encrypted
//	encryption-key-id: <id>
//
// and the key id is the GCM additional data, so a payload whose key id was
// changed does not decrypt even if the other key is in the ring.
//
// Decode passes payloads whose encoding is not binary/encrypted through
// unchanged (histories written before encryption was turned on stay
// readable); it fails for an unknown key id or a payload that does not
// authenticate.
//
// NewCodec panics if ring is nil or has no keys (use ParseKeyring).
func NewCodec(ring *Keyring) converter.PayloadCodec {
	if ring == nil || len(ring.ids) == 0 {
		panic("payloadcodec: NewCodec needs a keyring with at least one key (see ParseKeyring)")
	}
	return &codec{ring: ring}
}

// DataConverter returns Temporal's default data converter wrapped with the
// codec: set it as client.Options.DataConverter of every client (ingress,
// worker, tools) that reads or writes workflow payloads.
func DataConverter(ring *Keyring) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), NewCodec(ring))
}

// FailureConverter returns Temporal's default failure converter with
// EncodeCommonAttributes on and DataConverter(ring): failure messages and
// stack traces are then stored as an encrypted payload (history shows
// "Encoded failure"), so an error message that quotes a signed URL does not
// leak it. Set it as client.Options.FailureConverter next to DataConverter.
func FailureConverter(ring *Keyring) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          DataConverter(ring),
		EncodeCommonAttributes: true,
	})
}

// Encode implements converter.PayloadCodec.
func (c *codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	id := c.ring.ids[0]
	aead := c.ring.aead[id]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("payloadcodec: marshalling payload: %w", err)
		}
		buf := make([]byte, nonceSize, nonceSize+len(plain)+tagSize)
		rand.Read(buf) // never fails (crypto/rand, Go 1.24+)
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:    []byte(id),
			},
			Data: aead.Seal(buf, buf, plain, []byte(id)),
		}
	}
	return out, nil
}

// Decode implements converter.PayloadCodec.
func (c *codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		d, err := c.decrypt(p)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

func (c *codec) decrypt(p *commonpb.Payload) (*commonpb.Payload, error) {
	raw, ok := p.GetMetadata()[MetadataKeyID]
	if !ok || len(raw) == 0 {
		return nil, fmt.Errorf("payloadcodec: encrypted payload has no %s metadata", MetadataKeyID)
	}
	id := string(raw)
	aead, ok := c.ring.aead[id]
	if !ok {
		if checkKeyID(id) != nil {
			return nil, fmt.Errorf("payloadcodec: encrypted payload has a malformed %s", MetadataKeyID)
		}
		return nil, fmt.Errorf("payloadcodec: payload was encrypted with key id %q, which is not in the keyring (have %v): "+
			"a key encrypted before every process listed it, or was removed while its payloads are still read (README, Encrypted histories)", id, c.ring.ids)
	}
	data := p.GetData()
	if len(data) < nonceSize+tagSize {
		return nil, fmt.Errorf("payloadcodec: encrypted payload (key id %q) is too short", id)
	}
	plain, err := aead.Open(nil, data[:nonceSize], data[nonceSize:], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("payloadcodec: encrypted payload does not authenticate with key id %q (tampered, or its key id was changed)", id)
	}
	var orig commonpb.Payload
	if err := proto.Unmarshal(plain, &orig); err != nil {
		return nil, fmt.Errorf("payloadcodec: decrypted payload (key id %q) is not a Temporal payload: %w", id, err)
	}
	return &orig, nil
}
