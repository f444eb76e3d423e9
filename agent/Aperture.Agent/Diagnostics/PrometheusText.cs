using System.Globalization;
using System.Text;

namespace Aperture.Agent.Diagnostics;

/// <summary>Writes the Prometheus text exposition format (version 0.0.4), one family at a time.</summary>
public sealed class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";
    private readonly StringBuilder _text = new();

    public PrometheusText Family(string name, string type, string help)
    {
        _text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        _text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        return this;
    }

    public PrometheusText Sample(string name, double value, params (string Name, string Value)[] labels)
    {
        _text.Append(name);
        if (labels.Length > 0)
        {
            _text.Append('{');
            for (var i = 0; i < labels.Length; i++)
            {
                if (i > 0)
                {
                    _text.Append(',');
                }

                _text.Append(labels[i].Name).Append("=\"")
                    .Append(labels[i].Value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal))
                    .Append('"');
            }

            _text.Append('}');
        }

        _text.Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        return this;
    }

    public PrometheusText Metric(string name, string type, string help, double value, params (string Name, string Value)[] labels) =>
        Family(name, type, help).Sample(name, value, labels);

    public override string ToString() => _text.ToString();
}
