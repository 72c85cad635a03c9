package member

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// epochReserve is how many epochs one start may use above the one
// BootEpoch returns: a heartbeat stream uses one, every session sync
// stream and every receiving half another. No start comes near it.
const epochReserve = 1 << 32

// BootEpoch returns the epoch of this start of the unit (Config.Epoch): the
// larger of the clock (now, in Unix nanoseconds) and the counter persisted
// in the file at path, and persists the counter above every epoch this
// start may use, before it returns. Peers reject frames whose epoch is
// older than the last they heard from the unit, so a unit whose clock
// comes back behind (no real-time clock, an NTP step back) would
// otherwise be ignored until its clock passed the old value. A missing
// file counts as a counter of zero; the file's directory must exist and
// outlive a reboot (not a tmpfs). The file is replaced atomically.
func BootEpoch(path string, now time.Time) (uint64, error) {
	var stored uint64
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return 0, fmt.Errorf("member: boot epoch: %w", err)
	default:
		stored, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("member: boot epoch: %s: %w", path, err)
		}
	}
	epoch := max(uint64(max(now.UnixNano(), 0)), stored+1)
	if stored >= ^uint64(0)-epochReserve || epoch > ^uint64(0)-epochReserve { // stored+1 may wrap
		return 0, fmt.Errorf("member: boot epoch: %s: counter %d exhausted", path, stored)
	}
	if err := writeAtomic(path, strconv.AppendUint(nil, epoch+epochReserve, 10)); err != nil {
		return 0, fmt.Errorf("member: boot epoch: %w", err)
	}
	return epoch, nil
}

// writeAtomic replaces the file at path with b: a temporary file in the
// same directory, synced, renamed over path, and the directory synced.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
