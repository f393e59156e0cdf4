using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace PluginHost.Configuration;

/// <summary>
/// What <c>--host</c> names, with the meanings Kestrel users know from <c>--urls</c>: an IP address (IPv4 as four
/// dotted numbers, IPv6 with or without brackets; <c>0.0.0.0</c> is every IPv4 interface, <c>::</c> every IPv6
/// one and, dual-stack, IPv4 too), <c>localhost</c> (the loopback interfaces, IPv4 and IPv6), or <c>*</c> / <c>+</c>
/// (every interface, IPv6 and IPv4). Other host names are refused rather than resolved: a name that resolves to
/// a public address, or that Kestrel would quietly widen to every interface, is not what the operator meant.
/// </summary>
internal sealed record ListenHost
{
    private ListenHost(string text, IPAddress? address)
    {
        Text = text;
        Address = address;
    }

    /// <summary>Every IPv4 interface, LiteLLM's default.</summary>
    public static ListenHost AnyIPv4 { get; } = new("0.0.0.0", IPAddress.Any);

    /// <summary>What was given, as the help text and the log show it.</summary>
    public string Text { get; }

    /// <summary>The address for an IP literal; null for <c>localhost</c> and <c>*</c>.</summary>
    public IPAddress? Address { get; }

    /// <summary>What <c>--host</c> accepts, for the help text and error messages.</summary>
    public const string Accepts = "an IPv4 or IPv6 address (0.0.0.0 every IPv4 interface, :: every IPv6 one), localhost, or * for every interface";

    public static bool TryParse(string text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ListenHost? host)
    {
        host = text switch
        {
            "localhost" or "*" or "+" => new ListenHost(text, null),
            _ when IsIPv4(text) && IPAddress.TryParse(text, out var v4) => new ListenHost(text, v4),
            _ when IsIPv6(text, out var literal) && IPAddress.TryParse(literal, out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6 => new ListenHost(text, v6),
            _ => null,
        };
        return host is not null;
    }

    /// <summary>Adds the listening sockets to Kestrel.</summary>
    public void Bind(KestrelServerOptions kestrel, int port)
    {
        switch (Text)
        {
            case "*" or "+":
                kestrel.ListenAnyIP(port);
                break;

            // Kestrel cannot pick one free port for two loopback sockets: port 0 takes the IPv4 one.
            case "localhost" when port == 0:
                kestrel.Listen(IPAddress.Loopback, 0);
                break;
            case "localhost":
                kestrel.ListenLocalhost(port);
                break;
            default:
                kestrel.Listen(Address!, port);
                break;
        }
    }

    public override string ToString() => Text;

    // IPAddress.TryParse also takes "1", "127.1" and "0x7f.1" (inet_aton's forms); a listen address is four numbers.
    private static bool IsIPv4(string text)
    {
        var parts = text.Split('.');
        return parts.Length == 4 && parts.All(p => p.Length is > 0 and <= 3 && p.All(char.IsAsciiDigit));
    }

    // IPAddress.TryParse also takes "[::1]:80"; a listen address has no port (that is --port).
    private static bool IsIPv6(string text, out string literal)
    {
        literal = text.StartsWith('[') && text.EndsWith(']') ? text[1..^1] : text;
        return literal.Contains(':', StringComparison.Ordinal) && !literal.Contains('[', StringComparison.Ordinal) && !literal.Contains(']', StringComparison.Ordinal);
    }
}
