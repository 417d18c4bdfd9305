using System.Globalization;

namespace GruService.Benchmarks;

/// <summary>The integer options of our own verbs (`kernel`, `train-step`): --name value pairs over known names with defaults.</summary>
internal static class VerbOptions
{
    /// <summary>
    /// The defaults with the given options applied. An unknown name, a missing value or a value below the option's
    /// <paramref name="minimum"/> (1 unless it says otherwise) is a <see cref="FormatException"/> that names it.
    /// </summary>
    public static Dictionary<string, int> Parse(string[] args, IReadOnlyDictionary<string, int> defaults, Func<string, int>? minimum = null)
    {
        var options = new Dictionary<string, int>(defaults, StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i += 2)
        {
            string name = args[i].StartsWith("--", StringComparison.Ordinal) ? args[i][2..] : throw new FormatException($"Expected an option, got '{args[i]}'.");
            if (!options.ContainsKey(name)) throw new FormatException($"Unknown option --{name}.");
            if (i + 1 >= args.Length) throw new FormatException($"--{name} needs a value.");
            int least = minimum?.Invoke(name) ?? 1;
            if (!int.TryParse(args[i + 1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value) || value < least)
                throw new FormatException($"--{name} must be an integer of at least {least}; got '{args[i + 1]}'.");
            options[name] = value;
        }
        return options;
    }
}
