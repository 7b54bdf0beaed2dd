using Serilog.Core;
using Serilog.Events;

namespace JitVm.Machine.Management;

/// <summary>
/// Adds <c>VmPrefix</c> ("vm=NAME ", or empty) to every log event from the <see cref="VmInstance.LogProperty"/>
/// property that a VM's thread pushes, so a console output template can show which VM logged a line. Configure it
/// after <c>Enrich.FromLogContext()</c>.
/// </summary>
public sealed class VmLogEnricher : ILogEventEnricher
{
    public const string PrefixProperty = "VmPrefix";

    static readonly LogEventProperty Empty = new(PrefixProperty, new ScalarValue(""));

    public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory)
    {
        if (logEvent.Properties.TryGetValue(VmInstance.LogProperty, out var vm) && vm is ScalarValue { Value: string name })
            logEvent.AddPropertyIfAbsent(propertyFactory.CreateProperty(PrefixProperty, $"vm={name} "));
        else logEvent.AddPropertyIfAbsent(Empty);
    }
}
