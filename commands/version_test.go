package commands

import (
	"runtime/debug"
	"testing"
)

func TestBuildVersion(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tt := range []struct {
		name, ldflag string
		info         debug.BuildInfo
		want         string
	}{
		{"ldflag wins", "v9.9.9", debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v9.9.9"},
		{"go install @version", "", debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		{"checkout build", "", debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: vcs("vcs.revision", "0123456789abcdef0123", "vcs.time", "2026-12-01T10:00:00Z", "vcs.modified", "false")},
			"devel+0123456789ab 2026-12-01T10:00:00Z"},
		{"dirty checkout", "", debug.BuildInfo{Settings: vcs("vcs.revision", "abc", "vcs.modified", "true")}, "devel+abc+dirty"},
		{"nothing known", "", debug.BuildInfo{}, "devel"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := buildVersion(tt.ldflag, &tt.info); got != tt.want {
				t.Fatalf("buildVersion = %q, want %q", got, tt.want)
			}
		})
	}
}
