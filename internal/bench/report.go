package bench

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// Sections a Figure belongs to, in the order the table prints them.
const (
	SectionBaseline = "baseline"
	SectionService  = "service"
	SectionPeer     = "peer"
	SectionScale    = "scale"
)

// Figure is one line of the result table. Zero fields were not measured
// for this kind of figure and print as "-".
type Figure struct {
	Section string `json:"section"`
	Name    string `json:"name"`              // e.g. "clock TIME", "tcp echo round trip"
	Service string `json:"service,omitempty"` // daemon service measured, "" for baselines
	Clients int    `json:"clients,omitempty"`
	// Kind is "rr" (request/response), "upload", "download", "idle",
	// "newclient" (served while the idle sessions are open) or "primitive"
	// (a public-key limit); it decides which target applies.
	Kind string `json:"kind,omitempty"`

	Ops     int64   `json:"ops,omitempty"`
	Errors  int64   `json:"errors,omitempty"`
	Bytes   int64   `json:"bytes,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`

	ReqPerSec float64 `json:"req_per_sec,omitempty"`
	P50ms     float64 `json:"p50_ms,omitempty"`
	P99ms     float64 `json:"p99_ms,omitempty"`
	MBps      float64 `json:"mb_per_sec,omitempty"` // 10^6 bytes per second, as go test prints

	ServerCPUSec  float64 `json:"server_cpu_sec,omitempty"`
	CPUPerReqUs   float64 `json:"server_cpu_us_per_req,omitempty"`
	CPUPerMiBms   float64 `json:"server_cpu_ms_per_mib,omitempty"`
	PeakRSSMiB    float64 `json:"server_peak_rss_mib,omitempty"`
	RSSPerConnKiB float64 `json:"server_rss_kib_per_conn,omitempty"`

	// Limit names the baseline figure this one is compared with; Ratio is
	// this figure's rate divided by the limit's (req/s or MB/s).
	Limit string  `json:"limit,omitempty"`
	Ratio float64 `json:"ratio,omitempty"`
	// LimitRate is the limit's rate measured right before this figure (a
	// paired run, so a busy neighbour hurts both alike); 0 means the ratio
	// uses the run's baseline section instead.
	LimitRate float64 `json:"limit_rate,omitempty"`
	// LimitCPUPerReqUs is the echo server's CPU per request in the same
	// rounds: CPU/req divided by it is a load-independent cost ratio.
	LimitCPUPerReqUs float64 `json:"limit_server_cpu_us_per_req,omitempty"`
	// LimitCPUPerMiBms is the limit cipher's CPU per MiB on one core: the
	// server's CPU/MiB divided by it says how much it spends beyond the
	// cipher, independent of load.
	LimitCPUPerMiBms float64 `json:"limit_cpu_ms_per_mib,omitempty"`
	// Primitives names the public-key primitive limits (baseline figures)
	// one request of a handshake figure needs on the server;
	// PrimitivesCPUPerReqUs is their summed CPU per operation on one core
	// in this run, and CPUxPrimitives the server's CPU per request divided
	// by it: how much the request costs beyond its unavoidable
	// cryptography.
	Primitives            []string `json:"primitives,omitempty"`
	PrimitivesCPUPerReqUs float64  `json:"primitives_cpu_us_per_req,omitempty"`
	CPUxPrimitives        float64  `json:"cpu_x_primitives,omitempty"`
	// ConnLimit names the connection-per-request echo limit (EchoConnName)
	// of a figure whose protocol opens a connection per request (backup
	// 1025/1026/1027, e2eeftp LIST, and their TLS rows). ConnLimitRate is
	// its rate and ConnLimitCPUPerReqUs the echo server's CPU per
	// connection-request, both over the rounds interleaved with this
	// figure (the same echo server process as LimitRate's). ConnRatio is
	// this figure's rate over ConnLimitRate and CPUxConnLimit its server
	// CPU per request over ConnLimitCPUPerReqUs: what the request costs
	// against the bare connection the protocol makes it pay.
	// CPUxPrimitivesBeyondConn is (server CPU per request −
	// ConnLimitCPUPerReqUs) ÷ PrimitivesCPUPerReqUs: what the service adds
	// beyond that connection, in units of its public-key work (set only
	// when the figure has primitives; negative if it spent less than the
	// echo server did).
	ConnLimit                string  `json:"conn_limit,omitempty"`
	ConnLimitRate            float64 `json:"conn_limit_rate,omitempty"`
	ConnLimitCPUPerReqUs     float64 `json:"conn_limit_server_cpu_us_per_req,omitempty"`
	ConnRatio                float64 `json:"ratio_to_conn_limit,omitempty"`
	CPUxConnLimit            float64 `json:"cpu_x_conn_limit,omitempty"`
	CPUxPrimitivesBeyondConn float64 `json:"cpu_x_primitives_beyond_conn,omitempty"`
	// Target is the goal in words; Met says whether this run reached it
	// (nil when there is no target or nothing was measured).
	Target string `json:"target,omitempty"`
	Met    *bool  `json:"target_met,omitempty"`

	// Transport is the port the figure was measured on: "" the service's
	// plain port, "tls" its tls_listen, "curve" zmqcmd's curve_listen.
	// Plain names the plain row a secure row is compared with (same client
	// count); PlainRatio is this row's rate over that row's and
	// PlainCPURatio its server CPU per request (or per MiB) over that row's.
	Transport     string  `json:"transport,omitempty"`
	Plain         string  `json:"plain,omitempty"`
	PlainRatio    float64 `json:"ratio_to_plain,omitempty"`
	PlainCPURatio float64 `json:"cpu_x_plain,omitempty"`

	// Idle is the idle test's particulars, on its two rows ("idle" and
	// "newclient").
	Idle *IdleDetail `json:"idle,omitempty"`

	// Note explains a skip ("not available", "skipped: …") or adds context.
	Note string `json:"note,omitempty"`
}

// IdleDetail describes an idle-session run: how many sessions were asked
// and opened, from how many source addresses, under which open-file limit,
// and how fast new clients were served meanwhile.
type IdleDetail struct {
	Asked       int `json:"asked"`
	Opened      int `json:"opened"` // asked, or less when RLIMIT_NOFILE could not be raised enough
	SourceAddrs int `json:"source_addresses"`
	// The open-file limit in force after raising it, what the run wanted,
	// and how much the soft limit lacked of that (0: enough).
	NoFileSoft  uint64 `json:"rlimit_nofile_soft"`
	NoFileHard  uint64 `json:"rlimit_nofile_hard"`
	NoFileWant  uint64 `json:"rlimit_nofile_wanted"`
	NoFileShort uint64 `json:"rlimit_nofile_short"`
	// New clients (connect, key exchange, TIME), one after the other,
	// while the sessions were open.
	NewClientsServed int     `json:"new_clients_served"`
	NewClientP50ms   float64 `json:"new_client_p50_ms"`
	NewClientP99ms   float64 `json:"new_client_p99_ms"`
}

// Skipped reports whether the figure carries no measurement.
func (f Figure) Skipped() bool { return f.Ops == 0 && f.Bytes == 0 && f.Seconds == 0 }

// rate is the figure's throughput in its own unit: MB/s for transfers,
// req/s otherwise.
func (f Figure) rate() float64 {
	if f.MBps > 0 {
		return f.MBps
	}
	return f.ReqPerSec
}

// Host describes the machine a report was taken on.
type Host struct {
	GoVersion string  `json:"go_version"`
	OS        string  `json:"os"`
	CPUs      int     `json:"cpus"`
	CPUModel  string  `json:"cpu_model,omitempty"`
	LoadAvg   string  `json:"loadavg_at_start,omitempty"`
	NoFile    uint64  `json:"rlimit_nofile,omitempty"`
	MemGiB    float64 `json:"mem_gib,omitempty"`
}

// Report is the whole result of one run.
type Report struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Host     Host      `json:"host"`
	Settings Settings  `json:"settings"`
	Figures  []Figure  `json:"figures"`
}

// Settings are the options that shaped the figures.
type Settings struct {
	Services  []string `json:"services"`
	Duration  string   `json:"duration_per_figure"`
	Clients   []int    `json:"clients"`
	SizeBytes int64    `json:"transfer_size_bytes"`
	IdleConns int      `json:"idle_conns"`
	Rounds    int      `json:"rounds"`
	Quick     bool     `json:"quick"`
	Store     string   `json:"store"` // the daemon's metadata store, password left out
	Blob      string   `json:"blob"`  // the daemon's blob store
	LogLevel  string   `json:"daemon_log_level"`
}

// Baseline returns the named baseline figure.
func (r *Report) Baseline(name string) (Figure, bool) {
	for _, f := range r.Figures {
		if f.Section == SectionBaseline && f.Name == name {
			return f, true
		}
	}
	return Figure{}, false
}

// applyRatios fills Ratio for every figure that names a measured limit.
func (r *Report) applyRatios() {
	for i := range r.Figures {
		f := &r.Figures[i]
		if f.Limit == "" || f.Skipped() {
			continue
		}
		if f.LimitRate > 0 {
			f.Ratio = f.rate() / f.LimitRate
			continue
		}
		b, ok := r.Baseline(f.Limit)
		if !ok || b.rate() <= 0 {
			continue
		}
		f.Ratio = f.rate() / b.rate()
	}
}

// applyConnLimit fills ConnRatio, CPUxConnLimit and
// CPUxPrimitivesBeyondConn for every figure measured next to the
// connection-per-request echo (after applyPrimitives, whose sum it uses).
func (r *Report) applyConnLimit() {
	for i := range r.Figures {
		f := &r.Figures[i]
		if f.ConnLimit == "" || f.Skipped() {
			continue
		}
		if f.ConnLimitRate > 0 && f.rate() > 0 {
			f.ConnRatio = f.rate() / f.ConnLimitRate
		}
		if f.CPUPerReqUs <= 0 || f.ConnLimitCPUPerReqUs <= 0 {
			continue
		}
		f.CPUxConnLimit = f.CPUPerReqUs / f.ConnLimitCPUPerReqUs
		if f.PrimitivesCPUPerReqUs > 0 {
			f.CPUxPrimitivesBeyondConn = (f.CPUPerReqUs - f.ConnLimitCPUPerReqUs) / f.PrimitivesCPUPerReqUs
		}
	}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func dash(v float64, format string) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

// WriteTable prints the human-readable table.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "gatehouse bench  %s  %s, %d CPU, %s  load %s\n", r.Started.Format(time.RFC3339),
		r.Host.OS, r.Host.CPUs, r.Host.GoVersion, r.Host.LoadAvg)
	if r.Host.CPUModel != "" {
		fmt.Fprintf(w, "cpu: %s\n", r.Host.CPUModel)
	}
	if r.Settings.Store != "" || r.Settings.Blob != "" {
		fmt.Fprintf(w, "daemon store: %s, blobs: %s, log level: %s\n", r.Settings.Store, r.Settings.Blob, r.Settings.LogLevel)
	}
	fmt.Fprintf(w, "per figure: %s × %d round(s) interleaved with its echo limit(s), transfer size %s\n\n",
		r.Settings.Duration, max(r.Settings.Rounds, 1), humanBytes(r.Settings.SizeBytes))
	tw := tabwriter.NewWriter(w, 2, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "section\tfigure\tclients\treq/s\tp50 ms\tp99 ms\tMB/s\tsrv CPU\tCPU/req µs\tCPU ×limit\tCPU ×conn\tCPU ×primitives\t(CPU−conn) ×prim\tCPU/MiB ms\tpeak RSS MiB\tvs limit\tvs conn echo\tvs plain\ttarget\tnote")
	for _, f := range r.Figures {
		ratio := "-"
		if f.Ratio > 0 {
			ratio = fmt.Sprintf("%.0f%% of %s", f.Ratio*100, f.Limit)
		}
		target := "-"
		if f.Target != "" {
			target = f.Target
			if f.Met != nil {
				if *f.Met {
					target += " MET"
				} else {
					target += " MISSED"
				}
			}
		}
		plain := "-"
		if f.PlainRatio > 0 {
			plain = fmt.Sprintf("%.0f%%", f.PlainRatio*100)
			if f.PlainCPURatio > 0 {
				plain += fmt.Sprintf(", CPU %.2f×", f.PlainCPURatio)
			}
		}
		clients := "-"
		if f.Clients > 0 {
			clients = fmt.Sprint(f.Clients)
		}
		note := f.Note
		if f.Errors > 0 {
			note = strings.TrimSpace(fmt.Sprintf("%d errors; %s", f.Errors, note))
		}
		if f.RSSPerConnKiB > 0 {
			note = strings.TrimSpace(fmt.Sprintf("%.1f KiB/conn; %s", f.RSSPerConnKiB, note))
		}
		cpuX := 0.0
		switch {
		case f.LimitCPUPerReqUs > 0:
			cpuX = f.CPUPerReqUs / f.LimitCPUPerReqUs
		case f.LimitCPUPerMiBms > 0 && f.Section != SectionBaseline:
			cpuX = f.CPUPerMiBms / f.LimitCPUPerMiBms
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			f.Section, f.Name, clients,
			dash(f.ReqPerSec, "%.0f"), dash(f.P50ms, "%.3f"), dash(f.P99ms, "%.3f"),
			dash(f.MBps, "%.1f"), dash(f.ServerCPUSec, "%.2fs"), dash(f.CPUPerReqUs, "%.1f"),
			dash(cpuX, "%.1f×"), dash(f.CPUxConnLimit, "%.2f×"), dash(f.CPUxPrimitives, "%.2f×"),
			dash(f.CPUxPrimitivesBeyondConn, "%.2f×"), dash(f.CPUPerMiBms, "%.2f"), dash(f.PeakRSSMiB, "%.1f"),
			ratio, dash(f.ConnRatio*100, "%.0f%%"), plain, target, note)
	}
	return tw.Flush()
}

// WriteSVG draws one horizontal bar per measured service/peer figure: its
// rate as a percentage of its limit, with the target marked. Baselines are
// listed underneath with their absolute values. Standard library only.
func (r *Report) WriteSVG(w io.Writer) error {
	type bar struct {
		label, value string
		pct          float64 // ratio * 100
		target       float64 // percent, 0 when none
		met          *bool
		conn         bool // against the connection-per-request echo
	}
	var bars []bar
	var base []string
	for _, f := range r.Figures {
		switch {
		case f.Section == SectionBaseline:
			v := fmt.Sprintf("%.0f req/s", f.ReqPerSec)
			if f.MBps > 0 {
				v = fmt.Sprintf("%.0f MB/s", f.MBps)
			}
			if f.Kind == "primitive" {
				v = fmt.Sprintf("%.1f µs CPU per operation", f.CPUPerReqUs)
			} else if f.CPUPerReqUs > 0 {
				v += fmt.Sprintf(", %.1f µs server CPU per request", f.CPUPerReqUs)
			}
			base = append(base, fmt.Sprintf("%s: %s", f.Name, v))
		case f.Kind == "idle" && !f.Skipped():
			met := ""
			if f.Met != nil && *f.Met {
				met = " (target met)"
			} else if f.Met != nil {
				met = " (target MISSED)"
			}
			base = append(base, fmt.Sprintf("%s: %d reached, %.1f KiB of server RSS each%s",
				f.Name, f.Ops, f.RSSPerConnKiB, met))
		case f.Kind == "newclient" && !f.Skipped():
			met := ""
			if f.Met != nil && *f.Met {
				met = " (target met)"
			} else if f.Met != nil {
				met = " (target MISSED)"
			}
			base = append(base, fmt.Sprintf("%s: p50 %.2f ms, p99 %.2f ms%s", f.Name, f.P50ms, f.P99ms, met))
		case f.Ratio > 0:
			v := fmt.Sprintf("%.0f req/s", f.ReqPerSec)
			if f.MBps > 0 {
				v = fmt.Sprintf("%.1f MB/s", f.MBps)
			}
			label := f.Name
			if f.Clients > 0 {
				label = fmt.Sprintf("%s ×%d", f.Name, f.Clients)
			}
			bars = append(bars, bar{label: label, value: fmt.Sprintf("%s = %.0f%% of %s", v, f.Ratio*100, f.Limit),
				pct: f.Ratio * 100, target: targetPercent(f.Target), met: f.Met})
			if f.ConnRatio > 0 {
				// A second bar against the limit of its own kind: a
				// connection per request, like the protocol's.
				cv := fmt.Sprintf("%.0f%% of %s", f.ConnRatio*100, f.ConnLimit)
				if f.CPUxConnLimit > 0 {
					cv += fmt.Sprintf(", CPU %.2f×", f.CPUxConnLimit)
				}
				bars = append(bars, bar{label: label + " vs conn echo", value: cv, pct: f.ConnRatio * 100, conn: true})
			}
		}
	}
	const (
		left, barW, rowH, top = 230, 520, 26, 60
	)
	maxPct := 100.0
	for _, b := range bars {
		maxPct = math.Max(maxPct, b.pct)
	}
	maxPct = math.Ceil(maxPct/25) * 25
	scale := func(p float64) float64 { return float64(left) + p/maxPct*barW }
	height := top + len(bars)*rowH + 40 + len(base)*18 + 20
	width := left + barW + 430
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(w, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(w, `<text x="10" y="20" font-size="15" font-weight="bold">gatehouse bench — each figure as %% of its in-run limit</text>`+"\n")
	fmt.Fprintf(w, `<text x="10" y="38" fill="#555">%s · %s · %d CPU · %s · load %s</text>`+"\n",
		html.EscapeString(r.Started.Format(time.RFC3339)), html.EscapeString(r.Host.OS), r.Host.CPUs,
		html.EscapeString(r.Host.GoVersion), html.EscapeString(r.Host.LoadAvg))
	for p := 0.0; p <= maxPct; p += 25 {
		x := scale(p)
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, top-6, x, top+len(bars)*rowH)
		fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle" fill="#777">%.0f%%</text>`+"\n", x, top-9, p)
	}
	for i, b := range bars {
		y := top + i*rowH
		color := "#4a7bd0"
		if b.conn {
			color = "#9db4de"
		} else if b.met != nil && !*b.met {
			color = "#d0664a"
		} else if b.met != nil {
			color = "#3f9a5a"
		}
		fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+15, html.EscapeString(b.label))
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left, y+3, scale(b.pct)-float64(left), rowH-8, color)
		if b.target > 0 {
			x := scale(b.target)
			fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black" stroke-width="2" stroke-dasharray="3,2"/>`+"\n", x, y+1, x, y+rowH-3)
		}
		fmt.Fprintf(w, `<text x="%d" y="%d" fill="#333">%s</text>`+"\n", left+barW+8, y+15, html.EscapeString(b.value))
	}
	y := top + len(bars)*rowH + 30
	fmt.Fprintf(w, `<text x="10" y="%d" font-weight="bold">Limits measured in this run (each ratio uses the limit run paired with it; light bars: against the connection-per-request echo; dashed line: target; green met, red missed)</text>`+"\n", y)
	for i, s := range base {
		fmt.Fprintf(w, `<text x="20" y="%d">%s</text>`+"\n", y+18*(i+1), html.EscapeString(s))
	}
	_, err := fmt.Fprintln(w, "</svg>")
	return err
}

// targetPercent pulls the percentage out of targets like "≥ 70% of echo".
func targetPercent(t string) float64 {
	i := strings.IndexByte(t, '%')
	if i <= 0 {
		return 0
	}
	j := i
	for j > 0 && (t[j-1] >= '0' && t[j-1] <= '9' || t[j-1] == '.') {
		j--
	}
	var v float64
	if _, err := fmt.Sscanf(t[j:i], "%g", &v); err != nil {
		return 0
	}
	return v
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// joinNote puts a driver's remark before whatever the run noted.
func joinNote(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "; " + b
}
