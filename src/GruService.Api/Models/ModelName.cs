using System.Text.RegularExpressions;

namespace GruService.Api.Models;

public static partial class ModelName
{
    public const string Rule = "1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit";

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,63}$")]
    private static partial Regex Pattern();

    public static bool IsValid(string name) => Pattern().IsMatch(name);
}
