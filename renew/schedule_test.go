package renew_test

import (
	"errors"
	"testing"

	"github.com/certctl/certctl/renew"
)

// robfig/cron's parser panics on a time zone prefix without a schedule; a
// daemon given one crashed. A schedule that never fires would leave the
// manager to its due-time wake-ups alone, silently.
func TestParseSchedule_ParserPanicAndNeverFiring_Errors(t *testing.T) {
	for _, spec := range []string{"TZ=", "CRON_TZ=UTC", "TZ=Europe/Paris", "0 0 30 2 *", "0 0 31 4 *"} {
		sch, err := renew.ParseSchedule(spec)
		if !errors.Is(err, renew.ErrBadSchedule) || sch != nil {
			t.Errorf("ParseSchedule(%q) = %v, %v; want ErrBadSchedule", spec, sch, err)
		}
	}
	if _, err := renew.ParseSchedule("CRON_TZ=UTC 0 3 * * *"); err != nil {
		t.Errorf("a schedule with a time zone: %v", err)
	}
}
