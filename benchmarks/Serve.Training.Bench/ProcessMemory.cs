namespace Serve.Training.Bench;

/// <summary>Resident memory from /proc/self/status (Linux), and a reset of the peak so a phase can be measured alone.</summary>
internal static class ProcessMemory
{
    public static long Kilobytes(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (!line.StartsWith(field + ":", StringComparison.Ordinal)) continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        return -1;
    }

    public static long ResidentBytes => Kilobytes("VmRSS") * 1024;
    public static long PeakResidentBytes => Kilobytes("VmHWM") * 1024;

    /// <summary>Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+). Returns false where not allowed.</summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
