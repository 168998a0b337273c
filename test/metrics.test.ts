import { describe, expect, it } from 'vitest';
import { Counter, Histogram, HistogramView, Registry } from '../src/metrics';

describe('Prometheus metrics', () => {
  it('renders counters with escaped labels and histograms with cumulative buckets', () => {
    const r = new Registry();
    const c = r.add(new Counter('x_total', 'things'));
    c.inc({ code: 'a"b' });
    c.inc({ code: 'a"b' }, 2);
    const h = r.add(new Histogram('lat_ms', 'latency', [10, 20]));
    h.observe(5);
    h.observe(15);
    h.observe(25);
    const text = r.render();
    expect(text).toContain('# TYPE x_total counter');
    expect(text).toContain('x_total{code="a\\"b"} 3');
    expect(text).toContain('lat_ms_bucket{le="10"} 1');
    expect(text).toContain('lat_ms_bucket{le="20"} 2');
    expect(text).toContain('lat_ms_bucket{le="+Inf"} 3');
    expect(text).toContain('lat_ms_sum 45');
    expect(text).toContain('lat_ms_count 3');
  });

  it('renders a histogram kept by its owner as cumulative buckets', () => {
    const r = new Registry();
    const counts = [3, 0, 2, 1];
    r.add(new HistogramView('late_ms', 'lateness', [1, 5, 10], () => ({ counts, sum: 42 })));
    const text = r.render();
    expect(text).toContain('# TYPE late_ms histogram');
    expect(text).toContain('late_ms_bucket{le="1"} 3');
    expect(text).toContain('late_ms_bucket{le="5"} 3');
    expect(text).toContain('late_ms_bucket{le="10"} 5');
    expect(text).toContain('late_ms_bucket{le="+Inf"} 6');
    expect(text).toContain('late_ms_sum 42');
    expect(text).toContain('late_ms_count 6');
  });
});
