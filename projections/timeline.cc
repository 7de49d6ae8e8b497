#include "projections/timeline.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "projections/check.h"
#include "projections/time_text.h"

namespace taskledger {
namespace {

// The picture's frame, in CSS pixels: labels left, the time axis on top, statuses right.
constexpr double kLabelWidth = 200;
constexpr double kPlotWidth = 1200;
constexpr double kStatusWidth = 90;
constexpr double kAxisHeight = 36;
constexpr double kBottomMargin = 12;
// Lane height: roomy for a few tasks, shrinking so that 500 lanes stay about 6000 px tall,
// never below what an 8 px label needs.
constexpr double kLaneHeightMax = 32;
constexpr double kLaneHeightMin = 12;
constexpr double kLanesAtFullHeight = 100;
// Ids longer than this are cut in the label column (the lane's <title> has them whole).
constexpr size_t kLabelCharsMax = 28;
// Axis ticks: at most this many across the plot.
constexpr int64_t kTicksMax = 10;

struct Geometry {
  double lane_height;
  double bar_height;
  double font_px;
  int64_t from_ns;
  int64_t to_ns;

  double X(int64_t t) const {
    const double fraction = static_cast<double>(std::clamp(t, from_ns, to_ns) - from_ns) /
                            static_cast<double>(to_ns - from_ns);
    return kLabelWidth + fraction * kPlotWidth;
  }
  double LaneTop(size_t lane) const { return kAxisHeight + static_cast<double>(lane) * lane_height; }
  double LaneMiddle(size_t lane) const { return LaneTop(lane) + lane_height / 2; }
  bool Visible(int64_t t) const { return t >= from_ns && t <= to_ns; }
};

Geometry GeometryFor(size_t lanes, const TimelineOptions& options) {
  Geometry g;
  const double n = static_cast<double>(std::max<size_t>(lanes, 1));
  g.lane_height = std::clamp(kLaneHeightMax * kLanesAtFullHeight / n, kLaneHeightMin, kLaneHeightMax);
  g.bar_height = std::round(g.lane_height * 0.6);
  g.font_px = std::clamp(std::round(g.lane_height * 0.5), 8.0, 14.0);
  g.from_ns = options.from_ns;
  g.to_ns = options.to_ns;
  return g;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

// Text for HTML and SVG, in content and in quoted attributes.
std::string Escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// A time as milliseconds since the epoch with a fraction, for the page's script (a
// JavaScript number holds nanoseconds since 1970 only approximately).
std::string Millis(int64_t ns) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%lld.%06lld", static_cast<long long>(ns / kNanosPerMilli),
                static_cast<long long>(ns % kNanosPerMilli));
  return buf;
}

std::string Title(const std::string& text) { return "<title>" + Escape(text) + "</title>"; }

// The bar colours: one per way an attempt ends (and blue while it runs).
const char* const kStyle = R"(
body { font-family: system-ui, sans-serif; margin: 16px; color: #222; }
h1 { font-size: 18px; margin: 0 0 4px; }
p.range { margin: 0 0 8px; color: #555; font-size: 13px; }
div.legend { font-size: 12px; margin-bottom: 8px; }
div.legend span.key { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; vertical-align: -2px; }
svg.timeline text { dominant-baseline: middle; }
.band { fill: #fff; } .lane:nth-child(even) .band { fill: #f5f6f8; }
.label { fill: #222; } .life { stroke: #bbb; stroke-width: 1; }
.axis line { stroke: #ddd; } .axis text { fill: #666; font-size: 11px; text-anchor: middle; }
.completed { fill: #2e7d32; background: #2e7d32; } .failed { fill: #c62828; background: #c62828; }
.exited { fill: #ef6c00; background: #ef6c00; } .expired { fill: #6a1b9a; background: #6a1b9a; }
.interrupted { fill: #f9a825; background: #f9a825; } .released { fill: #546e7a; background: #546e7a; }
.blocked { fill: #8d6e63; background: #8d6e63; } .cancelled { fill: #9e9e9e; background: #9e9e9e; }
.running { fill: #1565c0; background: #1565c0; }
.attempt { stroke: #0003; stroke-width: 0.5; }
.heartbeat { stroke: #fffc; stroke-width: 1; }
.mark.signal { fill: #ffd54f; stroke: #000; stroke-width: 0.8; }
.mark.exit { fill: #fff; stroke: #000; stroke-width: 1.2; }
.mark.lapse { fill: #d50000; stroke: #fff; stroke-width: 0.8; }
.mark.swept { fill: none; stroke: #d50000; stroke-width: 1.2; }
.mark.rejected { stroke: #000; stroke-width: 2.2; }
.mark.gap { fill: #ff6d00; }
.mark.skew { fill: #00838f; }
.mark.operator { fill: #37474f; }
.dep { fill: none; stroke: #1565c0; stroke-opacity: 0.45; stroke-width: 1.2; }
.status.done { fill: #2e7d32; } .status.dead { fill: #c62828; } .status.running { fill: #1565c0; }
.status.waiting, .status.ready { fill: #555; } .status.blocked { fill: #8d6e63; } .status.cancelled { fill: #9e9e9e; }
div.zoom { font-size: 12px; margin-bottom: 6px; color: #555; }
div.zoom button { font-size: 12px; min-width: 28px; margin-right: 4px; }
g.plot { cursor: grab; } g.plot.panning { cursor: grabbing; }
.mark { transform: scale(var(--unzoom, 1), 1); }
.life, .attempt, .heartbeat, .dep { vector-effect: non-scaling-stroke; }
)";

// Zoom and pan, for a page whose bars are too close to read: the wheel zooms around the
// pointer, a drag pans, a double click (or "fit") shows the whole range again, and the
// address keeps the window (#zoom=FROM_MS,TO_MS) to share or reload it. The plot is one
// group stretched sideways (marks are scaled back by CSS); the axis is redrawn for the
// window shown. Without script the page is the same picture at its full range.
const char* const kZoomScript = R"(
(function () {
  const svg = document.querySelector('svg.timeline');
  const zoom = document.getElementById('zoom');
  if (!svg || !zoom) return;
  const L = +svg.dataset.plotX, W = +svg.dataset.plotWidth;
  const fromMs = +svg.dataset.fromMs, toMs = +svg.dataset.toMs, full = toMs - fromMs;
  const axisTop = +svg.dataset.axisHeight, axisBottom = +svg.dataset.axisBottom;
  const axis = svg.querySelector('g.axis'), shown = document.querySelector('div.zoom span.shown');
  const plot = svg.querySelector('g.plot');
  const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5,
                 18e5, 36e5, 72e5, 108e5, 216e5, 432e5, 864e5, 1728e5, 6048e5];
  let a = fromMs, b = toMs;
  const label = (t, step) => {
    const text = new Date(t).toISOString();
    return step >= 864e5 ? text.slice(0, 10) : step >= 1e3 ? text.slice(11, 19) : text.slice(11, 23);
  };
  function clamp() {
    let span = Math.min(Math.max(b - a, Math.min(1, full)), full);
    if (a < fromMs) a = fromMs;
    if (a + span > toMs) a = toMs - span;
    b = a + span;
  }
  function render() {
    clamp();
    const k = full / (b - a), off = (a - fromMs) / full * W;
    zoom.setAttribute('transform', 'translate(' + (L - (L + off) * k) + ' 0) scale(' + k + ' 1)');
    svg.style.setProperty('--unzoom', String(1 / k));
    const span = b - a, step = steps.find((s) => span / s <= 10) || Math.ceil(span / 10);
    let html = '';
    for (let t = Math.ceil(a / step) * step; t <= b; t += step) {
      const x = (L + (t - a) / span * W).toFixed(1);
      html += '<line x1="' + x + '" y1="' + (axisTop - 6) + '" x2="' + x + '" y2="' + axisBottom + '"/>' +
              '<text x="' + x + '" y="' + axisTop / 2 + '">' + label(t, step) + '</text>';
    }
    axis.innerHTML = html;
    shown.textContent = k === 1 ? 'the whole range' :
        new Date(a).toISOString() + ' to ' + new Date(b).toISOString() + ' (' + k.toFixed(1) + '×)';
    try { history.replaceState(null, '', k === 1 ? location.pathname : '#zoom=' + a.toFixed(3) + ',' + b.toFixed(3)); } catch (e) {}
  }
  const plotX = (event) => {
    const point = svg.createSVGPoint();
    point.x = event.clientX; point.y = event.clientY;
    return point.matrixTransform(svg.getScreenCTM().inverse()).x;
  };
  function zoomAround(x, factor) {
    const f = Math.min(Math.max((x - L) / W, 0), 1), t = a + f * (b - a), span = (b - a) * factor;
    a = t - f * span; b = a + span; render();
  }
  window.timelineZoom = function (fromShownMs, toShownMs) { a = fromShownMs; b = toShownMs; render(); };
  plot.addEventListener('wheel', (event) => {
    event.preventDefault();
    zoomAround(plotX(event), Math.exp(event.deltaY * 0.002));
  }, {passive: false});
  let drag = null;
  plot.addEventListener('pointerdown', (event) => {
    drag = {x: plotX(event), a: a, b: b}; plot.classList.add('panning'); plot.setPointerCapture(event.pointerId);
  });
  plot.addEventListener('pointermove', (event) => {
    if (!drag) return;
    const dt = (plotX(event) - drag.x) / W * (drag.b - drag.a);
    a = drag.a - dt; b = drag.b - dt; render();
  });
  plot.addEventListener('pointerup', () => { drag = null; plot.classList.remove('panning'); });
  plot.addEventListener('dblclick', () => { a = fromMs; b = toMs; render(); });
  document.getElementById('zoom-in').onclick = () => zoomAround(L + W / 2, 0.5);
  document.getElementById('zoom-out').onclick = () => zoomAround(L + W / 2, 2);
  document.getElementById('zoom-fit').onclick = () => { a = fromMs; b = toMs; render(); };
  const wanted = /#zoom=([0-9.]+),([0-9.]+)/.exec(location.hash);
  if (wanted) { a = +wanted[1]; b = +wanted[2]; render(); }
})();
)";

const char* const kEndClasses[] = {"completed", "failed",   "exited",  "expired",  "interrupted",
                                   "released",  "blocked",  "cancelled", "running"};

std::string AttemptClass(const AttemptStory& a) {
  return a.open ? "running" : std::string(AttemptEndName(a.end));
}

void Header(std::string& out, size_t lanes, const TimelineOptions& options) {
  out += "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>taskledger timeline</title><style>";
  out += kStyle;
  out += "</style></head><body>\n<h1>taskledger timeline" +
         (options.title.empty() ? "" : ": " + Escape(options.title)) + "</h1>\n";
  out += "<p class=\"range\">" + FormatTime(options.from_ns) + " to " + FormatTime(options.to_ns) + " (" +
         FormatDuration(options.to_ns - options.from_ns) + "), " + std::to_string(lanes) + " task" +
         (lanes == 1 ? "" : "s") + ". Hover over a bar or a mark for its details.</p>\n<div class=\"legend\">";
  for (const char* name : kEndClasses) {
    out += "<span class=\"key " + std::string(name) + "\"></span>" + name;
  }
  out += " &nbsp; marks: &#9660; signal, &#9675; exit, &#9670; lease expired, &#9671; lapse observed by a sweep, "
         "&#10005; refused command (zombie), &#9632; operator, &#9650; late heartbeat (a pause), &#8987; a writer's "
         "clock off the ledger's</div>\n";
  out += "<div class=\"zoom\"><button id=\"zoom-in\" title=\"zoom in\">+</button><button id=\"zoom-out\" "
         "title=\"zoom out\">&#8722;</button><button id=\"zoom-fit\" title=\"the whole range\">fit</button> "
         "showing <span class=\"shown\">the whole range</span>; the wheel zooms, a drag pans, a double click "
         "fits</div>\n";
}

// A tick step from 1 ms to a week: the smallest that keeps the ticks at most kTicksMax.
int64_t TickStep(int64_t span_ns) {
  static const int64_t kSteps[] = {1,    2,    5,     10,    20,    50,    100,    200,    500,
                                   1000, 2000, 5000,  10000, 15000, 30000, 60000,  120000, 300000,
                                   600000, 900000, 1800000, 3600000, 7200000, 10800000, 21600000,
                                   43200000, 86400000, 172800000, 604800000};
  for (int64_t step_ms : kSteps) {
    if (span_ns / (step_ms * kNanosPerMilli) <= kTicksMax) return step_ms * kNanosPerMilli;
  }
  return span_ns / kTicksMax + 1;
}

std::string TickLabel(int64_t t, int64_t step_ns) {
  const std::string text = FormatTime(t);  // 2023-11-14T22:13:20.000Z
  if (step_ns >= 86400 * kNanosPerSecond) return text.substr(0, 10);
  if (step_ns >= kNanosPerSecond) return text.substr(11, 8);
  return text.substr(11, 12);
}

void Axis(std::string& out, const Geometry& g, double height) {
  const int64_t step = TickStep(g.to_ns - g.from_ns);
  out += "<g class=\"axis\">";
  for (int64_t t = (g.from_ns / step + (g.from_ns % step != 0)) * step; t <= g.to_ns; t += step) {
    const std::string x = Num(g.X(t));
    out += "<line x1=\"" + x + "\" y1=\"" + Num(kAxisHeight - 6) + "\" x2=\"" + x + "\" y2=\"" + Num(height) +
           "\"/><text x=\"" + x + "\" y=\"" + Num(kAxisHeight / 2) + "\">" + TickLabel(t, step) + "</text>";
  }
  out += "</g>\n";
}

std::string AttemptTitle(const AttemptStory& a) {
  std::string who = a.worker;
  if (a.pid != 0) who += " pid " + std::to_string(a.pid);
  if (!a.host.empty()) who += " on " + a.host;
  std::string text = "attempt " + std::to_string(a.number) + ", token " + std::to_string(a.token) + ": " + who +
                     "\nclaimed " + FormatTime(a.claimed_ns) + " with a " + FormatDuration(a.ttl_ns) + " lease\n" +
                     std::to_string(a.heartbeat_ns.size()) + " heartbeats";
  if (a.open) return text + "\nrunning; the lease runs until " + FormatTime(a.deadline_ns);
  return text + "\nended " + FormatTime(a.end_ns) + ": " + a.ending;
}

// Heartbeats as ticks inside the bar, at most one per pixel.
void Heartbeats(std::string& out, const AttemptStory& a, const Geometry& g, double top) {
  double last_x = -1;
  for (int64_t t : a.heartbeat_ns) {
    if (!g.Visible(t)) continue;
    const double x = std::round(g.X(t));
    if (x == last_x) continue;
    last_x = x;
    out += "<line class=\"heartbeat\" x1=\"" + Num(x) + "\" y1=\"" + Num(top + 1) + "\" x2=\"" + Num(x) +
           "\" y2=\"" + Num(top + g.bar_height - 1) + "\"/>";
  }
}

// A mark: a small shape drawn around the origin of a group placed at (x, y), with its
// details as a <title>. The page's zoom stretches the plot sideways; the shape itself is
// scaled back (.mark in kStyle), so marks keep their form at any zoom.
std::string Mark(const std::string& kind, double x, double y, double r, const std::string& title) {
  const std::string t = Title(title);
  std::string shape;
  if (kind == "exit") {
    shape = "<circle class=\"mark exit\" r=\"" + Num(r * 0.6) + "\">" + t + "</circle>";
  } else {
    std::string d;
    if (kind == "rejected") {  // a cross
      d = "M" + Num(-r) + " " + Num(-r) + "L" + Num(r) + " " + Num(r) + "M" + Num(r) + " " + Num(-r) + "L" + Num(-r) +
          " " + Num(r);
    } else if (kind == "signal") {  // a triangle pointing down onto the bar
      d = "M" + Num(-r) + " " + Num(-r) + "L" + Num(r) + " " + Num(-r) + "L0 " + Num(r * 0.4) + "Z";
    } else if (kind == "gap") {  // a small triangle pointing up under the bar
      d = "M" + Num(-r * 0.6) + " " + Num(r) + "L" + Num(r * 0.6) + " " + Num(r) + "L0 0Z";
    } else if (kind == "skew") {  // an hourglass above the bar: the writer's clock is off
      d = "M" + Num(-r * 0.6) + " " + Num(-r) + "h" + Num(r * 1.2) + "L" + Num(-r * 0.6) + " 0h" + Num(r * 1.2) + "Z";
    } else if (kind == "operator") {
      d = "M" + Num(-r * 0.6) + " " + Num(-r * 0.6) + "h" + Num(r * 1.2) + "v" + Num(r * 1.2) + "h" + Num(-r * 1.2) +
          "Z";
    } else {  // lapse, swept: a diamond
      d = "M0 " + Num(-r) + "L" + Num(r) + " 0L0 " + Num(r) + "L" + Num(-r) + " 0Z";
    }
    shape = "<path class=\"mark " + kind + "\" d=\"" + d + "\">" + t + "</path>";
  }
  return "<g transform=\"translate(" + Num(x) + " " + Num(y) + ")\">" + shape + "</g>";
}

// The shape each kind of moment is drawn with, and where on the lane.
std::string MarkKind(const std::string& kind) {
  if (kind == "signal" || kind == "exit" || kind == "rejected") return kind;
  if (kind == "heartbeat_gap") return "gap";
  if (kind == "clock_skew") return "skew";
  if (kind == "lease_expired") return "swept";
  return "operator";  // blocked, unblocked, cancelled, revived
}

void Marks(std::string& out, const std::vector<ExplainMark>& marks, const Geometry& g, double middle) {
  const double r = std::max(3.0, g.bar_height * 0.4);
  for (const ExplainMark& m : marks) {
    if (!g.Visible(m.time_ns)) continue;
    const std::string kind = MarkKind(m.kind);
    // A signal sits on the bar, a clock's skew above it.
    const double y = kind == "signal" || kind == "skew" ? middle - g.bar_height / 2 : middle;
    out += Mark(kind, g.X(m.time_ns), y, r, FormatTime(m.time_ns) + " (seq " + std::to_string(m.seq) + ", " +
                                                 m.actor + ")\n" + m.text);
  }
}

void Bar(std::string& out, const AttemptStory& a, const Geometry& g, double middle) {
  const int64_t end = a.open ? g.to_ns : a.end_ns;
  if (end < g.from_ns || a.claimed_ns > g.to_ns) return;
  const double top = middle - g.bar_height / 2;
  const double x1 = g.X(a.claimed_ns), x2 = std::max(g.X(end), x1 + 1.5);
  out += "<rect class=\"attempt " + AttemptClass(a) + "\" x=\"" + Num(x1) + "\" y=\"" + Num(top) + "\" width=\"" +
         Num(x2 - x1) + "\" height=\"" + Num(g.bar_height) + "\">" + Title(AttemptTitle(a)) + "</rect>";
  Heartbeats(out, a, g, top);
}

// The attempt's marks; drawn after every bar of the lane, so that no later bar hides them.
void AttemptMarks(std::string& out, const AttemptStory& a, const Geometry& g, double middle) {
  const double r = std::max(3.0, g.bar_height * 0.4);
  // An exit that ended the attempt; one recorded after a completion is among the marks.
  const bool exit_is_a_mark =
      std::any_of(a.marks.begin(), a.marks.end(), [](const ExplainMark& m) { return m.kind == "exit"; });
  if (a.exited_ns != 0 && !exit_is_a_mark && g.Visible(a.exited_ns)) {
    out += Mark("exit", g.X(a.exited_ns), middle, r, FormatTime(a.exited_ns) + ": the holder's exit (" + a.detail + ")");
  }
  if (a.lapsed && g.Visible(a.end_ns)) {
    out += Mark("lapse", g.X(a.end_ns), middle, r, FormatTime(a.end_ns) + ": " + a.ending);
  }
  // Its moments may fall in the window when the bar does not (a zombie's late commands).
  Marks(out, a.marks, g, middle);
}

std::string LaneTitle(const TimelineLane& lane) {
  const TaskHistory& h = lane.history;
  std::string text = h.task_id + (h.spec.title.empty() ? "" : " \"" + h.spec.title + "\"") + ": " +
                     std::string(TaskStatusName(lane.status)) + "\n" + std::to_string(h.attempts.size()) +
                     " attempts; created " + FormatTime(h.created_ns);
  if (!h.spec.after.empty()) {
    text += "; after";
    for (const std::string& dep : h.spec.after) text += " " + dep;
  }
  return text;
}

std::string Label(const std::string& id) {
  if (id.size() <= kLabelCharsMax) return id;
  return id.substr(0, kLabelCharsMax - 3) + "...";
}

// A lane's fixed part: its band, its label and its status, which the zoom leaves alone.
void Lane(std::string& out, const TimelineLane& lane, size_t index, const Geometry& g) {
  const TaskHistory& h = lane.history;
  const double top = g.LaneTop(index), middle = g.LaneMiddle(index);
  const std::string status(TaskStatusName(lane.status));
  out += "<g class=\"lane\" id=\"lane-" + std::to_string(index) + "\" data-task=\"" + Escape(h.task_id) +
         "\" data-status=\"" + status + "\">";
  out += "<rect class=\"band\" x=\"0\" y=\"" + Num(top) + "\" width=\"" + Num(kLabelWidth + kPlotWidth + kStatusWidth) +
         "\" height=\"" + Num(g.lane_height) + "\"/>";
  out += "<text class=\"label\" x=\"6\" y=\"" + Num(middle) + "\">" + Escape(Label(h.task_id)) +
         Title(LaneTitle(lane)) + "</text>";
  out += "<text class=\"status " + status + "\" x=\"" + Num(kLabelWidth + kPlotWidth + 8) + "\" y=\"" + Num(middle) +
         "\">" + status + "</text></g>\n";
}

// A lane's picture in time: its life line, its attempts' bars and every mark.
void LanePlot(std::string& out, const TimelineLane& lane, size_t index, const Geometry& g) {
  const TaskHistory& h = lane.history;
  const double middle = g.LaneMiddle(index);
  out += "<g class=\"lane-plot\" data-task=\"" + Escape(h.task_id) + "\">";
  const int64_t life_end = h.record.terminal() ? std::max(h.record.last_ns, h.record.last_end_ns) : g.to_ns;
  if (life_end >= g.from_ns && h.created_ns <= g.to_ns) {
    out += "<line class=\"life\" x1=\"" + Num(g.X(h.created_ns)) + "\" y1=\"" + Num(middle) + "\" x2=\"" +
           Num(g.X(life_end)) + "\" y2=\"" + Num(middle) + "\"/>";
  }
  for (const AttemptStory& a : h.attempts) Bar(out, a, g, middle);
  for (const AttemptStory& a : h.attempts) AttemptMarks(out, a, g, middle);
  Marks(out, h.marks, g, middle);
  out += "</g>\n";
}

// When a dependency stopped holding its dependents back (its completion), or the right edge.
int64_t DoneAt(const TaskHistory& h, int64_t to_ns) { return h.record.done ? h.record.last_end_ns : to_ns; }

void DependencyArrows(std::string& out, const std::vector<TimelineLane>& lanes, const Geometry& g) {
  std::map<std::string, size_t> lane_of;
  for (size_t i = 0; i < lanes.size(); ++i) lane_of.emplace(lanes[i].history.task_id, i);
  out += "<g class=\"deps\">";
  for (size_t i = 0; i < lanes.size(); ++i) {
    const TaskHistory& h = lanes[i].history;
    for (const std::string& dep : h.spec.after) {
      auto found = lane_of.find(dep);
      if (found == lane_of.end()) continue;
      const int64_t from_t = DoneAt(lanes[found->second].history, g.to_ns);
      int64_t to_t = std::max(h.created_ns, from_t);
      for (const AttemptStory& a : h.attempts) {
        if (a.claimed_ns >= from_t) { to_t = a.claimed_ns; break; }
      }
      const double x1 = g.X(from_t), y1 = g.LaneMiddle(found->second), x2 = g.X(to_t), y2 = g.LaneMiddle(i);
      out += "<path class=\"dep\" marker-end=\"url(#arrow)\" d=\"M" + Num(x1) + " " + Num(y1) + "C" + Num(x1 + 24) +
             " " + Num(y1) + " " + Num(x2 - 24) + " " + Num(y2) + " " + Num(x2) + " " + Num(y2) + "\">" +
             Title(h.task_id + " runs after " + dep) + "</path>";
    }
  }
  out += "</g>\n";
}

// The margin either side of a fitted range, as a share of its span.
constexpr int64_t kFitMarginPerMille = 20;
// A fitted range is never narrower than this (one event alone, or all at one instant).
constexpr int64_t kFitSpanMinNs = kNanosPerSecond;

// The last moment a lane shows: its last event, an attempt's end (a lapse is derived at
// its deadline, after the last event), a mark.
int64_t LastMoment(const TaskHistory& h) {
  int64_t last = std::max({h.created_ns, h.record.last_ns, h.record.last_end_ns});
  for (const AttemptStory& a : h.attempts) {
    last = std::max({last, a.claimed_ns, a.open ? 0 : a.end_ns, a.exited_ns});
    if (!a.heartbeat_ns.empty()) last = std::max(last, a.heartbeat_ns.back());
    for (const ExplainMark& m : a.marks) last = std::max(last, m.time_ns);
  }
  for (const ExplainMark& m : h.marks) last = std::max(last, m.time_ns);
  return last;
}

}  // namespace

TimelineRange FitTimelineRange(const std::vector<TimelineLane>& lanes, int64_t now_ns, int64_t given_from_ns,
                               int64_t given_to_ns) {
  if (lanes.empty()) {
    const int64_t to = given_to_ns != 0 ? given_to_ns : now_ns;
    return {given_from_ns != 0 ? given_from_ns : to - kFitSpanMinNs, to};
  }
  int64_t first = INT64_MAX, last = INT64_MIN;
  bool running = false;
  for (const TimelineLane& lane : lanes) {
    first = std::min(first, lane.history.created_ns);
    last = std::max(last, LastMoment(lane.history));
    running = running || std::any_of(lane.history.attempts.begin(), lane.history.attempts.end(),
                                     [](const AttemptStory& a) { return a.open; });
  }
  if (running) last = std::max(last, now_ns);
  const int64_t margin = std::max<int64_t>((last - first) * kFitMarginPerMille / 1000, kNanosPerMilli);
  TimelineRange range{given_from_ns != 0 ? given_from_ns : first - margin,
                      given_to_ns != 0 ? given_to_ns : (running ? now_ns : last + margin)};
  if (range.to_ns - range.from_ns < kFitSpanMinNs) {  // widen around the middle, keeping a given edge
    if (given_from_ns != 0) {
      range.to_ns = given_to_ns != 0 ? range.to_ns : range.from_ns + kFitSpanMinNs;
    } else if (given_to_ns != 0 || running) {
      range.from_ns = range.to_ns - kFitSpanMinNs;
    } else {
      const int64_t middle = range.from_ns + (range.to_ns - range.from_ns) / 2;
      range = {middle - kFitSpanMinNs / 2, middle + kFitSpanMinNs / 2};
    }
  }
  return range;
}

std::string RenderTimelineHtml(const std::vector<TimelineLane>& lanes, const TimelineOptions& options) {
  TL_DCHECK(lanes.size() <= kTimelineLanesMax);
  TL_DCHECK(options.from_ns < options.to_ns);
  const Geometry g = GeometryFor(lanes.size(), options);
  const double width = kLabelWidth + kPlotWidth + kStatusWidth;
  const double height = g.LaneTop(lanes.size()) + kBottomMargin;
  std::string out;
  Header(out, lanes.size(), options);
  out += "<svg class=\"timeline\" width=\"" + Num(width) + "\" height=\"" + Num(height) + "\" viewBox=\"0 0 " +
         Num(width) + " " + Num(height) + "\" font-size=\"" + Num(g.font_px) + "\" data-plot-x=\"" + Num(kLabelWidth) +
         "\" data-plot-width=\"" + Num(kPlotWidth) + "\" data-axis-height=\"" + Num(kAxisHeight) +
         "\" data-axis-bottom=\"" + Num(height - kBottomMargin) + "\" data-from-ms=\"" + Millis(options.from_ns) +
         "\" data-to-ms=\"" + Millis(options.to_ns) + "\">\n";
  out += "<defs><marker id=\"arrow\" viewBox=\"0 0 6 6\" refX=\"6\" refY=\"3\" markerWidth=\"6\" markerHeight=\"6\" "
         "orient=\"auto\"><path d=\"M0 0L6 3L0 6Z\" fill=\"#1565c0\"/></marker>"
         "<clipPath id=\"plot-clip\"><rect x=\"" + Num(kLabelWidth) + "\" y=\"0\" width=\"" + Num(kPlotWidth) +
         "\" height=\"" + Num(height) + "\"/></clipPath></defs>\n";
  Axis(out, g, height - kBottomMargin);
  out += "<g class=\"lanes\">\n";
  for (size_t i = 0; i < lanes.size(); ++i) Lane(out, lanes[i], i, g);
  out += "</g>\n";
  // The plot: what the zoom stretches, clipped to its own columns.
  out += "<g class=\"plot\" clip-path=\"url(#plot-clip)\"><rect x=\"" + Num(kLabelWidth) + "\" y=\"0\" width=\"" +
         Num(kPlotWidth) + "\" height=\"" + Num(height) + "\" fill=\"transparent\"/><g id=\"zoom\">\n";
  for (size_t i = 0; i < lanes.size(); ++i) LanePlot(out, lanes[i], i, g);
  DependencyArrows(out, lanes, g);
  out += "</g></g>\n</svg>\n<script>";
  out += kZoomScript;
  out += "</script>\n</body></html>\n";
  return out;
}

}  // namespace taskledger
