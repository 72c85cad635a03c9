package testbed

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// GetJSON fetches http://addr/ from inside the host's namespace (a
// daemon's status server on the host's loopback, say) and decodes the
// JSON answer into v. It gives up after two seconds.
func (h *Host) GetJSON(addr string, v any) error {
	var c net.Conn
	if err := h.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", addr, time.Second)
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\nHost: "+addr+"\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("testbed: host %q: GET %s: %s", h.name, addr, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
