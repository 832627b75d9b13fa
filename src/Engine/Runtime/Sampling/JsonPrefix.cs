namespace LlmCpu.Engine.Runtime.Sampling;

/// <summary>
/// Recognizes, one UTF-8 byte at a time, text that can still become one JSON object or array (RFC 8259), and
/// tells when that value is complete. A value type: copying it is how a token is tried without committing it.
/// The nesting stack is a 128-bit mask (1 = object, 0 = array), which bounds the depth at 128.
/// </summary>
/// <remarks>
/// Whitespace between tokens follows llama.cpp's JSON grammar (grammars/json.gbnf: <c>ws ::= | " " | "\n" [ \t]{0,20}</c>):
/// nothing, one space, or a line break and up to <see cref="MaxIndent"/> spaces or tabs. Unbounded, a model fills its
/// answer with blanks. Strings take any byte from 0x20 up (UTF-8 is not checked: a broken character decodes to
/// U+FFFD, which is still valid JSON).
/// </remarks>
internal struct JsonPrefix
{
    public const int MaxDepth = 128;
    public const int MaxIndent = 20;

    private enum Mode : byte
    {
        Root, ValueOrArrayEnd, Value, KeyOrObjectEnd, Key, Colon, AfterValue,
        String, Escape, Unicode,
        Minus, Zero, Integer, Dot, Fraction, Exponent, ExponentSign, ExponentDigits,
        Literal, Done,
    }

    private static readonly byte[][] Literals = ["true"u8.ToArray(), "false"u8.ToArray(), "null"u8.ToArray()];

    private Mode _mode;
    private byte _count; // hex digits left in \uXXXX, or characters of a literal matched so far
    private byte _literal;
    private byte _whitespace; // 0: none in this gap; 1: one space (no more); 2 + n: a line break and n indents
    private bool _keyString;
    private short _depth;
    private UInt128 _objects;

    public readonly bool IsComplete => _mode == Mode.Done;

    /// <summary>Takes one byte; false when it cannot continue a JSON value (the state is then unusable).</summary>
    public bool Advance(byte b)
    {
        switch (_mode)
        {
            case Mode.String:
                if (b == '"') { _mode = _keyString ? Mode.Colon : Mode.AfterValue; return true; }
                if (b == '\\') { _mode = Mode.Escape; return true; }
                return b >= 0x20;
            case Mode.Escape:
                if (b == 'u') { _mode = Mode.Unicode; _count = 4; return true; }
                _mode = Mode.String;
                return b is (byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t';
            case Mode.Unicode:
                if (!char.IsAsciiHexDigit((char)b)) return false;
                if (--_count == 0) _mode = Mode.String;
                return true;
            case Mode.Literal:
                var literal = Literals[_literal];
                if (b != literal[_count]) return false;
                if (++_count == literal.Length) _mode = Mode.AfterValue;
                return true;
            case Mode.Minus:
                if (b == '0') { _mode = Mode.Zero; return true; }
                if (IsDigit(b)) { _mode = Mode.Integer; return true; }
                return false;
            case Mode.Zero:
            case Mode.Integer:
                if (_mode == Mode.Integer && IsDigit(b)) return true;
                if (b == '.') { _mode = Mode.Dot; return true; }
                if (b is (byte)'e' or (byte)'E') { _mode = Mode.Exponent; return true; }
                return EndNumber(b);
            case Mode.Dot:
                if (!IsDigit(b)) return false;
                _mode = Mode.Fraction;
                return true;
            case Mode.Fraction:
                if (IsDigit(b)) return true;
                if (b is (byte)'e' or (byte)'E') { _mode = Mode.Exponent; return true; }
                return EndNumber(b);
            case Mode.Exponent:
                if (b is (byte)'+' or (byte)'-') { _mode = Mode.ExponentSign; return true; }
                if (!IsDigit(b)) return false;
                _mode = Mode.ExponentDigits;
                return true;
            case Mode.ExponentSign:
                if (!IsDigit(b)) return false;
                _mode = Mode.ExponentDigits;
                return true;
            case Mode.ExponentDigits:
                return IsDigit(b) || EndNumber(b);
        }

        // Between tokens: whitespace of the grammar's shape is allowed everywhere, even after the value is complete.
        if (b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r')
            return AdvanceWhitespace(b);
        _whitespace = 0;
        switch (_mode)
        {
            case Mode.Root:
                return b is (byte)'{' or (byte)'[' && StartValue(b);
            case Mode.ValueOrArrayEnd:
                return b == ']' ? Close() : StartValue(b);
            case Mode.Value:
                return StartValue(b);
            case Mode.KeyOrObjectEnd:
                if (b == '}') return Close();
                return b == '"' && StartString(key: true);
            case Mode.Key:
                return b == '"' && StartString(key: true);
            case Mode.Colon:
                if (b != ':') return false;
                _mode = Mode.Value;
                return true;
            case Mode.AfterValue:
                if (b == ',') { _mode = TopIsObject ? Mode.Key : Mode.Value; return true; }
                if (b == '}') return TopIsObject && Close();
                if (b == ']') return !TopIsObject && Close();
                return false;
            default: // Done: nothing but whitespace may follow the value
                return false;
        }
    }

    private readonly bool TopIsObject => ((_objects >> (_depth - 1)) & UInt128.One) != UInt128.Zero;

    private bool AdvanceWhitespace(byte b)
    {
        switch (_whitespace)
        {
            case 0 when b == ' ': _whitespace = 1; return true;
            case 0 when b == '\n': _whitespace = 2; return true;
            case >= 2 when b is (byte)' ' or (byte)'\t' && _whitespace - 2 < MaxIndent: _whitespace++; return true;
            default: return false;
        }
    }

    private static bool IsDigit(byte b) => b is >= (byte)'0' and <= (byte)'9';

    private bool StartValue(byte b)
    {
        switch (b)
        {
            case (byte)'{':
            case (byte)'[':
                if (_depth == MaxDepth) return false;
                bool isObject = b == '{';
                _objects = isObject ? _objects | (UInt128.One << _depth) : _objects & ~(UInt128.One << _depth);
                _depth++;
                _mode = isObject ? Mode.KeyOrObjectEnd : Mode.ValueOrArrayEnd;
                return true;
            case (byte)'"':
                return StartString(key: false);
            case (byte)'-':
                _mode = Mode.Minus;
                return true;
            case (byte)'0':
                _mode = Mode.Zero;
                return true;
            case >= (byte)'1' and <= (byte)'9':
                _mode = Mode.Integer;
                return true;
            case (byte)'t': StartLiteral(0); return true;
            case (byte)'f': StartLiteral(1); return true;
            case (byte)'n': StartLiteral(2); return true;
            default:
                return false;
        }
    }

    private bool StartString(bool key)
    {
        _keyString = key;
        _mode = Mode.String;
        return true;
    }

    private void StartLiteral(byte which)
    {
        _literal = which;
        _count = 1;
        _mode = Mode.Literal;
    }

    private bool Close()
    {
        _depth--;
        _mode = _depth == 0 ? Mode.Done : Mode.AfterValue;
        return true;
    }

    /// <summary>A number ends at the first byte that cannot continue it; that byte is then read as what follows a value.</summary>
    private bool EndNumber(byte b)
    {
        _mode = Mode.AfterValue;
        return Advance(b);
    }
}
