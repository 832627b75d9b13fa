# Writes MAML, the XML help format Get-Help reads for binary cmdlets (<module>/en-US/<assembly>-Help.xml), from the
# objects MarkdownHelp.ps1 reads. The layout follows what PlatyPS's New-ExternalHelp writes, so Get-Help shows the
# same thing whichever tool made the file. Output is byte-stable (fixed order, "\n" line ends) so that a drift test
# can compare it with the committed file.

$script:MamlNamespaces = [ordered]@{
    maml    = 'http://schemas.microsoft.com/maml/2004/10'
    command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
    dev     = 'http://schemas.microsoft.com/maml/dev/2004/10'
    MSHelp  = 'http://msdn.microsoft.com/mshelp'
}

function Write-MamlElement {
    param([System.Xml.XmlWriter] $Writer, [string] $Name, [string] $Text, [hashtable] $Attributes)
    $prefix, $local = $Name.Split(':')
    $Writer.WriteStartElement($prefix, $local, $MamlNamespaces[$prefix])
    if ($Attributes) {
        [string[]] $keys = $Attributes.Keys
        [Array]::Sort($keys, [StringComparer]::Ordinal)
        foreach ($key in $keys) {
            $attributePrefix, $attributeName = $key.Split(':')
            if ($attributeName) {
                $Writer.WriteAttributeString($attributePrefix, $attributeName, $MamlNamespaces[$attributePrefix], [string] $Attributes[$key])
            }
            else {
                $Writer.WriteAttributeString($key, [string] $Attributes[$key])
            }
        }
    }
    if ($null -ne $Text) { $Writer.WriteString($Text) }
    $Writer.WriteEndElement()
}

function Write-MamlParagraphs {
    param([System.Xml.XmlWriter] $Writer, [string] $Name, [string[]] $Paragraphs)
    $prefix, $local = $Name.Split(':')
    $Writer.WriteStartElement($prefix, $local, $MamlNamespaces[$prefix])
    foreach ($paragraph in $Paragraphs) { Write-MamlElement $Writer 'maml:para' $paragraph }
    $Writer.WriteEndElement()
}

# The yaml "Parameter Sets" value names sets, or "(All)".
function Test-InParameterSet {
    param($Parameter, [string] $SetName)
    $sets = $Parameter.Values['Parameter Sets']
    if (-not $sets -or $sets -eq '(All)' -or $SetName -eq '__AllParameterSets') { return $true }
    ($sets -split ',\s*') -contains $SetName
}

function Write-MamlParameter {
    param([System.Xml.XmlWriter] $Writer, $Parameter, [switch] $InSyntax)
    $values = $Parameter.Values
    $type = $values['Type']
    $isSwitch = $type -eq 'SwitchParameter'
    $aliases = if ($values['Aliases']) { $values['Aliases'] } else { 'none' }
    $position = if ($values['Position'] -and $values['Position'] -ne 'Named') { $values['Position'] } else { 'named' }
    $Writer.WriteStartElement('command', 'parameter', $MamlNamespaces.command)
    $Writer.WriteAttributeString('required', ([string]($values['Required'] -eq 'True')).ToLowerInvariant())
    $Writer.WriteAttributeString('variableLength', ([string]$type.EndsWith('[]')).ToLowerInvariant())
    $Writer.WriteAttributeString('globbing', ([string]($values['Accept wildcard characters'] -eq 'True')).ToLowerInvariant())
    $Writer.WriteAttributeString('pipelineInput', $(if ($values['Accept pipeline input']) { $values['Accept pipeline input'] } else { 'False' }))
    $Writer.WriteAttributeString('position', $position)
    $Writer.WriteAttributeString('aliases', $aliases)
    Write-MamlElement $Writer 'maml:name' $Parameter.Name
    Write-MamlParagraphs $Writer 'maml:description' $Parameter.Description
    $accepted = if ($values['Accepted values']) { @($values['Accepted values'] -split ',\s*') } else { @() }
    if ($accepted.Count -gt 0) {
        # Get-Help shows these in the syntax as {A | B | C}.
        $Writer.WriteStartElement('command', 'parameterValueGroup', $MamlNamespaces.command)
        foreach ($value in $accepted) {
            Write-MamlElement $Writer 'command:parameterValue' $value @{ required = 'false'; 'command:variableLength' = 'false' }
        }
        $Writer.WriteEndElement()
    }
    # A switch takes no value, so the syntax shows [-Name] alone.
    if (-not ($isSwitch -and $InSyntax)) {
        Write-MamlElement $Writer 'command:parameterValue' $type @{ required = ([string](-not $isSwitch)).ToLowerInvariant(); variableLength = 'false' }
    }
    $Writer.WriteStartElement('dev', 'type', $MamlNamespaces.dev)
    Write-MamlElement $Writer 'maml:name' $type
    Write-MamlElement $Writer 'maml:uri' ''
    $Writer.WriteEndElement()
    Write-MamlElement $Writer 'dev:defaultValue' $(if ($values['Default value']) { $values['Default value'] } else { 'None' })
    $Writer.WriteEndElement()
}

function Write-MamlTypes {
    param([System.Xml.XmlWriter] $Writer, [string] $ListName, [string] $ItemName, $Types)
    $Writer.WriteStartElement('command', $ListName, $MamlNamespaces.command)
    foreach ($type in $Types) {
        $Writer.WriteStartElement('command', $ItemName, $MamlNamespaces.command)
        $Writer.WriteStartElement('dev', 'type', $MamlNamespaces.dev)
        Write-MamlElement $Writer 'maml:name' $type.Name
        $Writer.WriteEndElement()
        Write-MamlParagraphs $Writer 'maml:description' $type.Description
        $Writer.WriteEndElement()
    }
    $Writer.WriteEndElement()
}

function Write-MamlCommand {
    param([System.Xml.XmlWriter] $Writer, $Help)
    $verb, $noun = $Help.Name.Split('-', 2)
    $Writer.WriteStartElement('command', 'command', $MamlNamespaces.command)
    foreach ($prefix in $MamlNamespaces.Keys) {
        $Writer.WriteAttributeString('xmlns', $prefix, $null, $MamlNamespaces[$prefix])
    }

    $Writer.WriteStartElement('command', 'details', $MamlNamespaces.command)
    Write-MamlElement $Writer 'command:name' $Help.Name
    Write-MamlElement $Writer 'command:verb' $verb
    Write-MamlElement $Writer 'command:noun' $noun
    Write-MamlParagraphs $Writer 'maml:description' @($Help.Synopsis)
    $Writer.WriteEndElement()

    Write-MamlParagraphs $Writer 'maml:description' $Help.Description

    $Writer.WriteStartElement('command', 'syntax', $MamlNamespaces.command)
    foreach ($set in $Help.ParameterSets) {
        $Writer.WriteStartElement('command', 'syntaxItem', $MamlNamespaces.command)
        Write-MamlElement $Writer 'maml:name' $Help.Name
        foreach ($parameter in $Help.Parameters) {
            if (Test-InParameterSet $parameter $set.Name) { Write-MamlParameter $Writer $parameter -InSyntax }
        }
        $Writer.WriteEndElement()
    }
    $Writer.WriteEndElement()

    $Writer.WriteStartElement('command', 'parameters', $MamlNamespaces.command)
    foreach ($parameter in $Help.Parameters) { Write-MamlParameter $Writer $parameter }
    $Writer.WriteEndElement()

    Write-MamlTypes $Writer 'inputTypes' 'inputType' $Help.Inputs
    Write-MamlTypes $Writer 'returnValues' 'returnValue' $Help.Outputs

    $Writer.WriteStartElement('maml', 'alertSet', $MamlNamespaces.maml)
    Write-MamlParagraphs $Writer 'maml:alert' $Help.Notes
    $Writer.WriteEndElement()

    $Writer.WriteStartElement('command', 'examples', $MamlNamespaces.command)
    foreach ($example in $Help.Examples) {
        $Writer.WriteStartElement('command', 'example', $MamlNamespaces.command)
        # Get-Help prints the title as it is; the dashes set examples apart as PlatyPS's titles do.
        Write-MamlElement $Writer 'maml:title' "-------------------------- $($example.Title) --------------------------"
        Write-MamlParagraphs $Writer 'maml:introduction' $example.Introduction
        Write-MamlElement $Writer 'dev:code' $example.Code
        Write-MamlParagraphs $Writer 'dev:remarks' $example.Remarks
        $Writer.WriteEndElement()
    }
    $Writer.WriteEndElement()

    $Writer.WriteStartElement('command', 'relatedLinks', $MamlNamespaces.command)
    foreach ($link in $Help.Links) {
        $Writer.WriteStartElement('maml', 'navigationLink', $MamlNamespaces.maml)
        Write-MamlElement $Writer 'maml:linkText' $link.Text
        Write-MamlElement $Writer 'maml:uri' $link.Uri
        $Writer.WriteEndElement()
    }
    $Writer.WriteEndElement()

    $Writer.WriteEndElement()
}

# Returns the MAML document for the given pages as a string.
function ConvertTo-MamlHelp {
    param([Parameter(Mandatory)] [object[]] $Help)
    $settings = [System.Xml.XmlWriterSettings]::new()
    $settings.Indent = $true
    $settings.IndentChars = '  '
    $settings.NewLineChars = "`n"
    $settings.NewLineHandling = [System.Xml.NewLineHandling]::None
    $settings.Encoding = [System.Text.UTF8Encoding]::new($false)
    $text = [System.IO.StringWriter]::new([System.Globalization.CultureInfo]::InvariantCulture)
    $writer = [System.Xml.XmlWriter]::Create($text, $settings)
    try {
        $writer.WriteStartDocument()
        $writer.WriteStartElement('helpItems', 'http://msh')
        $writer.WriteAttributeString('schema', 'maml')
        foreach ($page in $Help) { Write-MamlCommand $writer $page }
        $writer.WriteEndElement()
        $writer.WriteEndDocument()
    }
    finally {
        $writer.Dispose()
    }
    # StringWriter declares utf-16; the file is written as UTF-8.
    $text.ToString().Replace('encoding="utf-16"', 'encoding="utf-8"') + "`n"
}
