using System.Globalization;

namespace PluginHost.Bench;

/// <summary>
/// Appends the results of one scenario to <c>rows.md</c> (one row of the summary table) and <c>details.md</c>
/// (every round's figures) in the results folder; bench/run.sh assembles them.
/// </summary>
internal sealed class Report(string directory)
{
    public void Row(string number, string scenario, string figure, string target, bool? met)
    {
        var verdict = met switch { true => "met", false => "**missed**", null => "reported" };
        Append("rows.md", $"| {number} | {scenario} | {figure} | {target} | {verdict} |\n");
        Console.WriteLine($"[{number}] {scenario}: {figure} (target {target}: {verdict})");
    }

    public void Detail(string text)
    {
        Append("details.md", text.TrimEnd() + "\n\n");
        Console.WriteLine(text.TrimEnd());
    }

    private void Append(string file, string text)
    {
        Directory.CreateDirectory(directory);
        File.AppendAllText(Path.Combine(directory, file), text);
    }

    public static string Ms(double value) => value.ToString(value < 10 ? "0.000" : "0.0", CultureInfo.InvariantCulture) + " ms";

    /// <summary>A difference in milliseconds, always signed: "+0.107 ms", "−0.084 ms".</summary>
    public static string SignedMs(double value) => (value < 0 ? "−" : "+") + Ms(Math.Abs(value));

    public static string F(double value, string format = "0.00") => value.ToString(format, CultureInfo.InvariantCulture);
}
