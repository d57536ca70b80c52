package gcsapi

import (
	"net/url"
	"testing"
)

func TestParseContentRange(t *testing.T) {
	for _, tt := range []struct {
		header       string
		first, total int64
		bad          bool
	}{
		{header: "bytes 0-99/*", first: 0, total: -1},
		{header: "bytes 100-199/200", first: 100, total: 200},
		{header: "bytes */200", first: -1, total: 200},
		{header: "bytes */*", first: -1, total: -1},
		{header: "", bad: true},
		{header: "bytes 0-99", bad: true},
		{header: "bytes x-99/*", bad: true},
		{header: "bytes 0-99/y", bad: true},
		{header: "items 0-99/100", bad: true},
	} {
		first, total, err := ParseContentRange(tt.header)
		if tt.bad != (err != nil) || !tt.bad && (first != tt.first || total != tt.total) {
			t.Errorf("ParseContentRange(%q) = %d, %d, %v; want %d, %d, error %v", tt.header, first, total, err, tt.first, tt.total, tt.bad)
		}
	}
}

func TestConditions(t *testing.T) {
	for _, tt := range []struct {
		query          string
		gen, metagen   int64
		met, malformed bool
	}{
		{query: "", gen: 0, met: true},
		{query: "ifGenerationMatch=0", gen: 0, met: true},
		{query: "ifGenerationMatch=0", gen: 5, metagen: 1, met: false},
		{query: "ifGenerationMatch=5", gen: 5, metagen: 1, met: true},
		{query: "ifGenerationNotMatch=5", gen: 5, metagen: 1, met: false},
		{query: "ifGenerationNotMatch=5", gen: 6, metagen: 1, met: true},
		{query: "ifGenerationMatch=5&ifMetagenerationMatch=2", gen: 5, metagen: 1, met: false},
		{query: "ifGenerationMatch=5&ifMetagenerationMatch=1", gen: 5, metagen: 1, met: true},
		{query: "ifMetagenerationMatch=1", gen: 0, met: false},
		{query: "ifGenerationMatch=five", malformed: true},
	} {
		q, _ := url.ParseQuery(tt.query)
		c, err := ParseConditions(q)
		if tt.malformed != (err != nil) {
			t.Errorf("ParseConditions(%q): %v", tt.query, err)
			continue
		}
		if !tt.malformed && c.Met(tt.gen, tt.metagen) != tt.met {
			t.Errorf("%q on generation %d, metageneration %d: met %v, want %v", tt.query, tt.gen, tt.metagen, !tt.met, tt.met)
		}
	}
}
