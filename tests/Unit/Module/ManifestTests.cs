using System.Management.Automation;
using System.Management.Automation.Language;
using System.Reflection;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Module;

/// <summary>The manifest, the cmdlet classes and the docs agree: every cmdlet exported once, documented with every parameter.</summary>
public sealed class ManifestTests
{
    private static readonly string[] CommonParameters =
        ["Verbose", "Debug", "ErrorAction", "WarningAction", "InformationAction", "ProgressAction", "ErrorVariable", "WarningVariable",
         "InformationVariable", "OutVariable", "OutBuffer", "PipelineVariable", "WhatIf", "Confirm"];

    private static Type[] CmdletTypes() =>
        Assembly.LoadFrom(Path.Combine(AppContext.BaseDirectory, "Modules", "LlmCpu", "LlmCpu.Module.dll")).GetTypes()
            .Where(t => t.GetCustomAttributes().Any(a => a.GetType().Name == nameof(CmdletAttribute))).ToArray();

    private static string CmdletName(Type type)
    {
        dynamic attribute = type.GetCustomAttributes().First(a => a.GetType().Name == nameof(CmdletAttribute));
        return $"{attribute.VerbName}-{attribute.NounName}";
    }

    private static string[] ExportedByManifest(string key = "CmdletsToExport")
    {
        var ast = Parser.ParseFile(Path.Combine(RepoPaths.Root, "LlmCpu.psd1"), out _, out var errors);
        Assert.Empty(errors);
        var manifest = (System.Collections.Hashtable)((HashtableAst)ast.Find(a => a is HashtableAst, false)!).SafeGetValue();
        return ((object[])manifest[key]!).Cast<string>().ToArray();
    }

    [Fact]
    public void AliasesToExportListsEveryCmdletsLlmPrefixedAliasExactlyOnce()
    {
        var exported = ExportedByManifest("AliasesToExport");
        Assert.Equal(exported.Length, exported.Distinct().Count());
        var declared = CmdletTypes().SelectMany(t => t.GetCustomAttributes().Where(a => a.GetType().Name == nameof(AliasAttribute))
            .SelectMany(a => ((dynamic)a).AliasNames as IEnumerable<string> ?? [])).ToArray();
        Assert.Equal(declared.Order(), exported.Order());
        // Each alias is its cmdlet's name with Llm before the noun, so the two names are found together.
        Assert.Equal(CmdletTypes().Select(CmdletName).Select(n => n.Replace("-", "-Llm")).Order(), declared.Order());
    }

    [Fact]
    public void CmdletsToExportListsEveryCmdletClassExactlyOnce()
    {
        var exported = ExportedByManifest();
        Assert.Equal(exported.Length, exported.Distinct().Count());
        Assert.Equal(CmdletTypes().Select(CmdletName).Order(), exported.Order());
    }

    [Fact]
    public void EveryCmdletIsSealedAndDeclaresItsOutputType()
    {
        Assert.All(CmdletTypes(), t =>
        {
            Assert.True(t.IsSealed, t.Name + " is not sealed");
            Assert.Contains(t.GetCustomAttributes(), a => a.GetType().Name == nameof(OutputTypeAttribute));
        });
    }

    [Fact]
    public void EveryCmdletHasADocsPageDescribingEveryParameter()
    {
        using var session = new PowerShellSession();
        foreach (var type in CmdletTypes())
        {
            string name = CmdletName(type);
            string page = Path.Combine(RepoPaths.Root, "docs", name + ".md");
            Assert.True(File.Exists(page), $"docs/{name}.md is missing");
            string text = File.ReadAllText(page);
            foreach (string section in new[] { "## SYNOPSIS", "## SYNTAX", "## DESCRIPTION", "## EXAMPLES", "## PARAMETERS", "## OUTPUTS" })
                Assert.True(text.Contains(section), $"docs/{name}.md lacks {section}");
            Assert.Matches(@"### Example 1", text);
            var parameters = session.Run($"(Get-Command {name}).Parameters.Keys").Output.Select(o => o.ToString()!).Except(CommonParameters);
            foreach (string parameter in parameters)
                Assert.True(text.Contains("### -" + parameter), $"docs/{name}.md does not describe -{parameter}");
        }
        Assert.True(File.Exists(Path.Combine(RepoPaths.Root, "docs", "about_LlmCpu.md")), "docs/about_LlmCpu.md is missing");
    }
}
