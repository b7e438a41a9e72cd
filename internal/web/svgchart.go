package web

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// Line charts as server-rendered SVG: no JavaScript. html/template
// escapes every name (a topic or table called <script> is text).
const (
	lineChartWidth  = 620
	lineChartHeight = 210
	plotLeft        = 64  // room for the value axis labels
	plotRight       = 440 // the legend sits right of the plot
	plotTop         = 12
	plotBottom      = 180 // the time axis labels sit below
)

// chartColors are distinguishable on a laptop screen; series beyond them
// repeat colours.
var chartColors = []string{"#4878d0", "#ee854a", "#6acc64", "#d65f5f", "#956cb4", "#8c613c", "#dc7ec0", "#797979"}

var lineChart = template.Must(template.New("line").Parse(`<svg class="timeseries" id="chart-{{.ID}}" role="img" aria-label="{{.Title}} ({{.Unit}})" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" xmlns="http://www.w3.org/2000/svg">
<title>{{.Title}} ({{.Unit}})</title>
<text x="{{.PlotLeft}}" y="12" class="unit">{{.Title}} <tspan class="muted" font-weight="normal">({{.Unit}})</tspan></text>
{{range .YTicks}}<line x1="{{$.PlotLeft}}" x2="{{$.PlotRight}}" y1="{{.Pos}}" y2="{{.Pos}}" stroke="#eee"></line><text x="{{$.LabelX}}" y="{{.Pos}}" text-anchor="end" dominant-baseline="middle">{{.Label}}</text>
{{end}}{{range .XTicks}}<line x1="{{.Pos}}" x2="{{.Pos}}" y1="{{$.PlotTop}}" y2="{{$.PlotBottom}}" stroke="#f3f3f3"></line><text x="{{.Pos}}" y="{{$.TimeLabelY}}" text-anchor="middle">{{.Label}}</text>
{{end}}<line x1="{{.PlotLeft}}" x2="{{.PlotLeft}}" y1="{{.PlotTop}}" y2="{{.PlotBottom}}" stroke="#888"></line>
<line x1="{{.PlotLeft}}" x2="{{.PlotRight}}" y1="{{.PlotBottom}}" y2="{{.PlotBottom}}" stroke="#888"></line>
<text x="{{.PlotRight}}" y="{{.AxisNoteY}}" text-anchor="end" class="muted">time (UTC)</text>
{{range .Lines}}<polyline class="series" data-series="{{.Name}}" data-times="{{.Times}}" data-values="{{.Values}}" fill="none" stroke="{{.Color}}" stroke-width="1.6" points="{{.Points}}"></polyline><circle cx="{{.LastX}}" cy="{{.LastY}}" r="2.5" fill="{{.Color}}"></circle>
{{end}}{{range $i, $l := .Lines}}<g class="legend" data-series="{{$l.Name}}"><rect x="{{$.LegendX}}" y="{{$l.LegendY}}" width="10" height="10" fill="{{$l.Color}}"></rect><text x="{{$.LegendTextX}}" y="{{$l.LegendTextY}}">{{$l.Label}}: <tspan class="current" font-weight="bold">{{$l.Current}}</tspan></text></g>
{{end}}{{if not .Lines}}<text x="{{.PlotLeft}}" y="100" dx="20" class="muted">no data yet</text>{{end}}
</svg>`))

type svgTick struct {
	Pos   float64
	Label string
}

type svgLine struct {
	Name, Label, Color, Points, Times, Values, Current string
	LegendY, LegendTextY                               int
	// LastX, LastY mark the current value: a series of one sample is a
	// dot.
	LastX, LastY float64
}

type svgChart struct {
	ID, Title, Unit                                     string
	W, H, PlotLeft, PlotRight, PlotTop, PlotBottom      int
	LabelX, TimeLabelY, AxisNoteY, LegendX, LegendTextX int
	YTicks, XTicks                                      []svgTick
	Lines                                               []svgLine
}

// maxLegend is how many series a chart's legend names; the rest are drawn.
const maxLegend = 12

// renderChart draws c over [from, to] as SVG.
func renderChart(c Chart, from, to time.Time) (template.HTML, error) {
	m := svgChart{
		ID: c.ID, Title: c.Title, Unit: c.Unit, W: lineChartWidth, H: lineChartHeight,
		PlotLeft: plotLeft, PlotRight: plotRight, PlotTop: plotTop, PlotBottom: plotBottom,
		LabelX: plotLeft - 6, TimeLabelY: plotBottom + 16, AxisNoteY: plotBottom + 28,
		LegendX: plotRight + 12, LegendTextX: plotRight + 26,
	}
	top := 0.0
	for _, s := range c.Series {
		for _, p := range s.Points {
			top = math.Max(top, p.Value)
		}
	}
	top = niceCeil(top)
	for i := range 5 {
		v := top * float64(i) / 4
		m.YTicks = append(m.YTicks, svgTick{Pos: yPos(v, top), Label: formatValue(v)})
	}
	span := to.Sub(from)
	step := 10 * time.Minute
	if span <= 20*time.Minute {
		step = 2 * time.Minute
	}
	for t := from.Truncate(step).Add(step); !t.After(to); t = t.Add(step) {
		m.XTicks = append(m.XTicks, svgTick{Pos: xPos(t, from, to), Label: t.UTC().Format("15:04")})
	}
	for i, s := range c.Series {
		if len(s.Points) == 0 {
			continue
		}
		var pts, times, values strings.Builder
		for j, p := range s.Points {
			if j > 0 {
				pts.WriteByte(' ')
				times.WriteByte(' ')
				values.WriteByte(' ')
			}
			fmt.Fprintf(&pts, "%.1f,%.1f", xPos(p.At, from, to), yPos(p.Value, top))
			times.WriteString(strconv.FormatInt(p.At.UnixMilli(), 10))
			values.WriteString(strconv.FormatFloat(p.Value, 'g', -1, 64))
		}
		n := len(m.Lines)
		line := svgLine{
			Name: s.Name, Label: s.Name, Color: chartColors[i%len(chartColors)],
			Points: pts.String(), Times: times.String(), Values: values.String(),
			Current: formatValue(s.Points[len(s.Points)-1].Value) + " " + c.Unit,
			LegendY: plotTop + n*16, LegendTextY: plotTop + n*16 + 9,
			LastX: xPos(s.Points[len(s.Points)-1].At, from, to), LastY: yPos(s.Points[len(s.Points)-1].Value, top),
		}
		if len(line.Label) > 22 {
			line.Label = line.Label[:21] + "…"
		}
		if n >= maxLegend {
			line.LegendY, line.LegendTextY = -100, -100 // drawn, not named
		}
		m.Lines = append(m.Lines, line)
	}
	var buf bytes.Buffer
	if err := lineChart.Execute(&buf, m); err != nil {
		return "", fmt.Errorf("render chart %s: %w", c.ID, err)
	}
	// html/template escaped every value above.
	return template.HTML(buf.String()), nil //nolint:gosec // escaped by html/template
}

func xPos(t, from, to time.Time) float64 {
	span := to.Sub(from).Seconds()
	if span <= 0 {
		return plotRight
	}
	f := math.Min(math.Max(t.Sub(from).Seconds()/span, 0), 1)
	return plotLeft + f*(plotRight-plotLeft)
}

func yPos(v, top float64) float64 {
	if top <= 0 {
		return plotBottom
	}
	return plotBottom - v/top*(plotBottom-plotTop)
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten so the
// axis labels are round; 1 for an all-zero chart.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	pow := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*pow >= v {
			return m * pow
		}
	}
	return 10 * pow
}

// formatValue is a value as an axis or legend shows it: k/M for large,
// four significant digits for small.
func formatValue(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return strconv.FormatFloat(math.Round(v/1e4)/100, 'f', -1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(math.Round(v/100)/10, 'f', -1, 64) + "k"
	case a >= 100 || a == math.Trunc(a):
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	default: // four significant digits: axis ticks like 0.375 stay exact
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}
