using Microsoft.Extensions.Options;

namespace Serve.Server.Hosting;

/// <summary>
/// Fills in the default model when none is configured and fails start-up with a message that says how to get one,
/// before Kestrel listens: a server without a model file can never become ready.
/// </summary>
internal sealed class EngineSettingsValidation(IHostEnvironment environment) : IPostConfigureOptions<EngineSettings>, IValidateOptions<EngineSettings>
{
    private IReadOnlyList<string> _looked = [];

    public void PostConfigure(string? name, EngineSettings options)
    {
        if (!string.IsNullOrWhiteSpace(options.Adapters)) options.Adapters = Path.GetFullPath(options.Adapters, environment.ContentRootPath);
        if (!string.IsNullOrWhiteSpace(options.Model))
        {
            options.Model = Path.GetFullPath(options.Model, environment.ContentRootPath);
            return;
        }
        options.Model = DefaultModelLocator.Find([environment.ContentRootPath, AppContext.BaseDirectory, Directory.GetCurrentDirectory()], out _looked);
        // The default model comes with its demo adapters unless an adapters directory was given.
        if (options.Model is not null && string.IsNullOrWhiteSpace(options.Adapters)) options.Adapters = DefaultModelLocator.AdaptersBeside(options.Model);
    }

    public ValidateOptionsResult Validate(string? name, EngineSettings options)
    {
        if (options.Model is null)
            return ValidateOptionsResult.Fail(
                $"No base model: {DefaultModelLocator.RelativePath} was not found (looked at {string.Join(", ", _looked)}). {DefaultModelLocator.HowToMakeIt}");
        if (!File.Exists(options.Model))
            return ValidateOptionsResult.Fail($"The base model '{options.Model}' does not exist. {DefaultModelLocator.HowToMakeIt}");
        if (options.Adapters is { } adapters && File.Exists(adapters))
            return ValidateOptionsResult.Fail($"The adapters directory '{adapters}' is a file.");
        if (options.MaxSequences is { } seqs && options.BatchSize is { } batch && batch < seqs)
            return ValidateOptionsResult.Fail($"BatchSize ({batch}) must be at least MaxSequences ({seqs}).");
        return ValidateOptionsResult.Success;
    }
}
