namespace Serve.LoadTest.Scenarios;

public enum HookAction
{
    /// <summary>Kill the process whose id is in PidFile (or Pid).</summary>
    Kill,

    /// <summary>Run Command with /bin/sh -c.</summary>
    Command,
}
