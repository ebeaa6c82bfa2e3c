namespace Serve.Training.Training;

/// <summary>Draws train loss (blue line) and held-out loss (red points joined) against step as a PNG.</summary>
public static class LossCurvePlot
{
    public static void Write(string path, IReadOnlyList<StepMetrics> history, double? baseEvalLoss, int width = 800, int height = 450)
    {
        ArgumentNullException.ThrowIfNull(history);
        var rgb = new byte[width * height * 3];
        Array.Fill(rgb, (byte)255);
        const int left = 40, right = 10, top = 10, bottom = 30;
        int plotW = width - left - right, plotH = height - top - bottom;

        var losses = history.Select(h => h.Loss).Concat(history.Where(h => h.EvalLoss is not null).Select(h => h.EvalLoss!.Value));
        if (baseEvalLoss is { } b) losses = losses.Append(b);
        var all = losses.Where(double.IsFinite).ToArray();
        var maxStep = Math.Max(1, history.Count == 0 ? 1 : history.Max(h => h.Step));
        double lo = all.Length > 0 ? Math.Min(0, all.Min()) : 0, hi = all.Length > 0 ? all.Max() * 1.05 : 1;
        if (hi <= lo) hi = lo + 1;

        int X(double step) => left + (int)Math.Round(step / maxStep * (plotW - 1));
        int Y(double loss) => top + plotH - 1 - (int)Math.Round((loss - lo) / (hi - lo) * (plotH - 1));

        void Set(int x, int y, (byte R, byte G, byte B) c)
        {
            if (x < 0 || y < 0 || x >= width || y >= height) return;
            var i = (y * width + x) * 3;
            rgb[i] = c.R; rgb[i + 1] = c.G; rgb[i + 2] = c.B;
        }

        void Line(int x0, int y0, int x1, int y1, (byte, byte, byte) c, int thickness = 1)
        {
            int dx = Math.Abs(x1 - x0), dy = -Math.Abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
            while (true)
            {
                for (var t = 0; t < thickness; t++) { Set(x0, y0 + t, c); Set(x0 + t, y0, c); }
                if (x0 == x1 && y0 == y1) break;
                var e2 = 2 * err;
                if (e2 >= dy) { err += dy; x0 += sx; }
                if (e2 <= dx) { err += dx; y0 += sy; }
            }
        }

        (byte, byte, byte) axis = (0, 0, 0), grid = (225, 225, 225), train = (31, 119, 180), eval = (214, 39, 40), baseline = (150, 150, 150);
        for (var g = 1; g <= 4; g++)
        {
            var y = top + plotH * g / 5;
            Line(left, y, left + plotW - 1, y, grid);
        }
        Line(left, top, left, top + plotH - 1, axis);
        Line(left, top + plotH - 1, left + plotW - 1, top + plotH - 1, axis);
        if (baseEvalLoss is { } bl && double.IsFinite(bl))
            for (var x = left; x < left + plotW; x += 6) Line(x, Y(bl), Math.Min(x + 3, left + plotW - 1), Y(bl), baseline);

        for (var i = 1; i < history.Count; i++)
            Line(X(history[i - 1].Step), Y(history[i - 1].Loss), X(history[i].Step), Y(history[i].Loss), train);
        var evals = history.Where(h => h.EvalLoss is not null).ToArray();
        for (var i = 0; i < evals.Length; i++)
        {
            int x = X(evals[i].Step), y = Y(evals[i].EvalLoss!.Value);
            for (var dx = -3; dx <= 3; dx++) for (var dy = -3; dy <= 3; dy++) Set(x + dx, y + dy, eval);
            if (i > 0) Line(X(evals[i - 1].Step), Y(evals[i - 1].EvalLoss!.Value), x, y, eval, 2);
        }
        File.WriteAllBytes(path, PngEncoder.Encode(width, height, rgb));
    }
}
