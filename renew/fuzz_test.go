package renew

import (
	"testing"
	"time"
)

// FuzzParseSchedule checks that ParseSchedule never panics (robfig/cron's
// parser does on some inputs), and that a schedule it accepts fires: its
// next time after a fixed instant is later than that instant.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"", "@every 5m", "*/10 * * * *", "@hourly", "@daily", "0 3 * * 1-5", "CRON_TZ=UTC 0 3 * * *",
		"TZ=Europe/Paris @daily", "TZ=", "CRON_TZ=UTC", "0 0 30 2 *", "@every 0s", "@every -1h", "61 * * * *", "* * *",
		"0-59/0 * * * *", "@every 9999999h", "1-0 * * * *"} {
		f.Add(s)
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec string) {
		sch, err := ParseSchedule(spec)
		if err != nil {
			if sch != nil {
				t.Fatalf("ParseSchedule(%q): a schedule with error %v", spec, err)
			}
			return
		}
		if next := sch.Next(at); !next.After(at) {
			t.Fatalf("ParseSchedule(%q) accepted a schedule whose next run after %v is %v", spec, at, next)
		}
	})
}
