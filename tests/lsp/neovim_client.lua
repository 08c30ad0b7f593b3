-- Neovim's built-in LSP client, headless: open $TORCHLINT_FILE with the server
-- `$TORCHLINT_EXE lsp`, wait for its diagnostics and write them to $TORCHLINT_OUT
-- as JSON. The API used exists from Neovim 0.7 on.
local file = os.getenv("TORCHLINT_FILE")
local out = os.getenv("TORCHLINT_OUT")

local function finish(result)
  local handle = io.open(out, "w")
  handle:write(vim.fn.json_encode(result))
  handle:close()
  vim.cmd("qall!")
end

local client_id = vim.lsp.start_client({
  name = "torchlint",
  cmd = { os.getenv("TORCHLINT_EXE"), "lsp" },
  root_dir = vim.fn.fnamemodify(file, ":h"),
  init_options = { select = { "TL001", "TL901", "TL902" }, debounce = 0 },
})
if client_id == nil then
  finish({ error = "the client did not start" })
end

vim.cmd("edit " .. vim.fn.fnameescape(file))
vim.lsp.buf_attach_client(0, client_id)

local got = vim.wait(30000, function()
  return #vim.diagnostic.get(0) > 0
end, 50)

local found = {}
for _, d in ipairs(vim.diagnostic.get(0)) do
  local lsp = (d.user_data or {}).lsp or {}
  table.insert(found, {
    lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, end_col = d.end_col,
    severity = d.severity, source = d.source, message = d.message,
    code = d.code or lsp.code,
  })
end
vim.lsp.stop_client(client_id)
finish({ waited = got, diagnostics = found })
