using Serve.Server.Hosting;
using Serve.Server.OpenAi;

namespace Serve.Server.Admin;

/// <summary>
/// Opens a file named by POST /admin/adapters {"path"} for registration. Off unless Serve:AdapterImportDirectories
/// lists directories, and then only for regular files inside them (symbolic links resolved first, so a link cannot
/// lead out). Outside them every path gets the same 403 whether or not a file is there, and no error ever echoes
/// file content. The size limit is the upload one: checked before reading and enforced again while copying.
/// </summary>
internal static class AdapterImport
{
    public static Stream Open(string path, ServerOptions options)
    {
        if (options.AdapterImportDirectories.Count == 0)
            throw new OpenAiException(403,
                "Registering an adapter from a server path is disabled: upload it (PUT /admin/adapters/{name} or multipart), or list allowed directories in Serve:AdapterImportDirectories.",
                OpenAiErrorTypes.Permission, "path", "register_by_path_disabled");
        if (path.Any(char.IsControl) || !Path.IsPathFullyQualified(path))
            throw OpenAiException.BadRequest("'path' must be an absolute path without control characters.", "path", "invalid_value");
        var real = RealPath(Path.GetFullPath(path));
        if (!options.AdapterImportDirectories.Any(d => IsInside(real, RealPath(Path.GetFullPath(d)))))
            throw new OpenAiException(403, "'path' is not inside a directory adapters may be registered from (Serve:AdapterImportDirectories).",
                OpenAiErrorTypes.Permission, "path", "path_not_allowed");
        var info = new FileInfo(real);
        if (!info.Exists || info.Attributes.HasFlag(FileAttributes.Directory))
            throw OpenAiException.BadRequest("There is no adapter file at 'path'.", "path", "invalid_value");
        if (info.Length > options.MaxAdapterUploadBytes)
            throw TooLarge(options.MaxAdapterUploadBytes);
        FileStream stream;
        try
        {
            stream = new FileStream(real, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw OpenAiException.BadRequest("The file at 'path' cannot be read by the server.", "path", "invalid_value");
        }
        // Devices and files that grow while copied report a length that means nothing: count what is read.
        return new LengthLimitedStream(stream, options.MaxAdapterUploadBytes, () => TooLarge(options.MaxAdapterUploadBytes));
    }

    private static OpenAiException TooLarge(long limit) =>
        new(413, $"The adapter file is larger than the {limit}-byte limit (Serve:MaxAdapterUploadBytes).", OpenAiErrorTypes.InvalidRequest, "path", "adapter_too_large");

    private static bool IsInside(string path, string directory)
    {
        var root = directory.EndsWith(Path.DirectorySeparatorChar) ? directory : directory + Path.DirectorySeparatorChar;
        return path.StartsWith(root, StringComparison.Ordinal);
    }

    /// <summary>The path with every symbolic link along it resolved (the parts that do not exist are kept as written).</summary>
    internal static string RealPath(string fullPath)
    {
        var root = Path.GetPathRoot(fullPath) ?? "/";
        var current = root;
        var parts = fullPath[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < parts.Length; i++)
        {
            var next = Path.Combine(current, parts[i]);
            FileSystemInfo? target = null;
            try
            {
                target = new FileInfo(next).ResolveLinkTarget(returnFinalTarget: true);
            }
            catch (IOException)
            {
                // Not a link, or a loop: keep the name as it is (a loop then fails to open).
            }
            current = target is null ? next : RealPath(Path.GetFullPath(target.FullName));
        }
        return current;
    }
}
